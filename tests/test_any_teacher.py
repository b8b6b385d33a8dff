"""Any teacher, any student: a teacher of another backbone, the keras-hub transformer and
WordPiece tokenizer, and a keras-hub preset classifier as the teacher."""

import socket

import keras
import numpy as np
import pytest
import tensorflow as tf

from bkd_keras.run.config import ConfigError, TrainConfig
from bkd_keras.run.runner import run, validate
from tests.test_text import WORDS, write_text_tree

QUIET = dict(verbose=0, eval_every=0, warmup_epochs=0)


def _params(model):
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


def test_bigger_teacher_distils_into_small_student_on_digits(tmp_path):
    out = tmp_path / "run"
    config = TrainConfig.flat(dataset="digits", backbone="small_cnn", teacher_backbone="resnet20", method="bkd",
                              epochs=2, batch_size=64, imbalance_ratio=10, output_dir=str(out), **QUIET)
    results = run(config, log=lambda *_: None)
    teacher = keras.saving.load_model(out / "teacher" / "model.keras", compile=False)
    student = keras.saving.load_model(out / "export" / "model.keras", compile=False)
    assert teacher.name == "resnet20" and student.name == "small_cnn"
    # ResNet-20 (option-A shortcuts, 16-32-64 channels) holds about 0.27 M weights, small_cnn about 0.09 M.
    assert _params(teacher) > 2 * _params(student)
    kd = _logged(out / "student", "kd_loss")
    assert len(kd) == 2 and all(np.isfinite(kd)) and min(kd) > 0      # the teacher's term was trained on
    assert set(results["reports"]) == {"teacher", "student (bkd)"}


def _logged(stage_dir, column):
    """One column of a stage's log.csv, per epoch."""
    with open(stage_dir / "log.csv") as f:
        header, *rows = f.read().splitlines()
    return [float(r.split(",")[header.split(",").index(column)]) for r in rows]


def test_teacher_config_is_the_teacher_backbone():
    config = TrainConfig.flat(backbone="resnet20", pretrained=None, teacher_backbone="resnet56")
    assert config.model.for_teacher().backbone == "resnet56"
    assert TrainConfig.flat(backbone="resnet50", pretrained="imagenet").model.for_teacher().pretrained == "imagenet"
    # Another teacher backbone starts from scratch unless --teacher_pretrained says otherwise.
    mixed = TrainConfig.flat(backbone="resnet50", pretrained="imagenet", teacher_backbone="resnet152")
    assert mixed.model.for_teacher().pretrained is None
    assert mixed.replace(teacher_pretrained="w.h5").model.for_teacher().pretrained == "w.h5"


@pytest.mark.parametrize("values, message", [
    (dict(teacher_backbone="nope"), "Unknown --teacher_backbone='nope'"),
    (dict(teacher_backbone="textcnn"), "--teacher_backbone=textcnn does not take digits's images"),
    (dict(teacher_pretrained="imagenet"), "--teacher_pretrained is for"),
    (dict(teacher_hub_preset="/tmp/x"), "--teacher_hub_preset is a keras-hub text classifier"),
    (dict(teacher="t.keras", teacher_backbone="resnet20"), "one way to get the teacher"),
])
def test_teacher_config_errors(values, message):
    with pytest.raises(ConfigError, match=message):
        validate(TrainConfig.flat(dataset="digits", backbone="small_cnn", **values))


def test_missing_preset_folder_is_refused_before_any_data_is_read(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        validate(TrainConfig.flat(dataset="bbc_news", backbone="textcnn", mixup_alpha=0,
                                  teacher_hub_preset=str(tmp_path / "nope")))


def test_transformer_size_errors():
    with pytest.raises(ConfigError, match="multiple of --transformer_heads=3"):
        validate(TrainConfig.flat(dataset="bbc_news", backbone="transformer", mixup_alpha=0, transformer_heads=3))
    with pytest.raises(ConfigError, match="must be >= 1"):
        validate(TrainConfig.flat(dataset="bbc_news", backbone="textcnn", teacher_backbone="transformer",
                                  mixup_alpha=0, transformer_layers=0))


def test_transformer_parameter_count_and_padding_mask():
    from models import build_backbone
    vocab, length, d, width = 100, 16, 50, 64
    matrix = np.random.RandomState(0).uniform(-1, 1, (vocab, d)).astype("float32")
    model = build_backbone("transformer", 5, (length,), embedding_matrix=matrix, num_layers=2, num_heads=4,
                           width=width)
    # Hand count: token + position embeddings, the d -> width projection, per encoder 4 attention
    # projections (w^2 + w), 2 layer norms (2w each), FFN w -> 2w -> w; dense head.
    encoder = 4 * (width * width + width) + 2 * 2 * width + (width * 2 * width + 2 * width) + (2 * width * width + width)
    expected = vocab * d + length * d + (d * width + width) + 2 * encoder + (width * 5 + 5)
    assert _params(model) == expected
    np.testing.assert_array_equal(model.get_layer("embedding").token_embedding.embeddings.numpy(), matrix)
    # Padding (id 0) is masked in attention and pooling: same logits as an explicit padding mask.
    ids = np.zeros((2, length), "int64")
    ids[0, :5] = [3, 4, 5, 6, 7]
    ids[1, :9] = np.arange(10, 19)
    mask = ids != 0
    h = model.get_layer("projection")(model.get_layer("embedding")(ids))
    for i in range(2):
        h = model.get_layer(f"encoder{i}")(h, padding_mask=mask)
    h = np.asarray(h)
    pooled = (h * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)
    reference = np.asarray(model.get_layer("logits")(pooled))
    np.testing.assert_allclose(np.asarray(model(ids)), reference, atol=1e-5)
    # An empty text (all padding) gives finite logits (the bias), not NaN.
    assert np.isfinite(np.asarray(model(np.zeros((1, length), "int64")))).all()


def test_wordpiece_transformer_teacher_to_textcnn_round_trips(tmp_path):
    import keras_hub
    root = write_text_tree(tmp_path / "data", [60, 60, 60], test_per_class=10)
    out = tmp_path / "run"
    config = TrainConfig.flat(dataset="text_folder", data_dir=root, backbone="textcnn", teacher_backbone="transformer",
                              transformer_layers=1, transformer_heads=2, transformer_width=16, tokenizer="wordpiece",
                              max_tokens=80, method="bkd", epochs=2, batch_size=16, imbalance_ratio=10,
                              max_per_class=60, sequence_length=12, embeddings="random", embedding_dim=8,
                              mixup_alpha=0.0, learning_rate=0.05, output_dir=str(out), **QUIET)
    run(config, log=lambda *_: None)
    from bkd_keras.run.export import read_vocabulary
    vocab = read_vocabulary(out / "export")
    assert vocab[:2] == ["[PAD]", "[UNK]"] and "goal" in vocab and len(vocab) <= 80
    assert read_vocabulary(out / "teacher") == vocab
    # The transformer teacher round-trips through .keras.
    teacher = keras.saving.load_model(out / "teacher" / "model.keras", compile=False)
    assert teacher.name == "transformer"
    # serve_text == serve(ids of an independent WordPiece tokenizer rebuilt from vocabulary.txt).
    texts = ["goal match win team league", "film actor award music star", "Zebras"]
    tokenizer = keras_hub.tokenizers.WordPieceTokenizer(vocabulary=vocab, sequence_length=12, lowercase=True,
                                                        strip_accents=True, oov_token="[UNK]", dtype="int64")
    ids = tf.constant(np.asarray(tokenizer(tf.constant(texts))))
    assert ids.numpy()[0, :5].tolist() == [vocab.index(w) for w in texts[0].split()]
    export = tf.saved_model.load(str(out / "export" / "saved_model"))
    np.testing.assert_allclose(export.serve_text(tf.constant(texts)).numpy(), export.serve(ids).numpy(),
                               rtol=1e-5, atol=1e-5)


def _tiny_bert_preset(path, num_classes):
    """A randomly initialised 1-layer BERT text classifier saved as a keras-hub preset folder."""
    import keras_hub
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + sorted({w for t in WORDS.values() for w in t.split()})
    tokenizer = keras_hub.models.BertTokenizer(vocabulary=vocab, lowercase=True)
    preprocessor = keras_hub.models.BertTextClassifierPreprocessor(tokenizer, sequence_length=16)
    backbone = keras_hub.models.BertBackbone(vocabulary_size=len(vocab), num_layers=1, num_heads=2, hidden_dim=8,
                                             intermediate_dim=16, max_sequence_length=16)
    keras.utils.set_random_seed(1)
    classifier = keras_hub.models.BertTextClassifier(backbone, num_classes=num_classes, preprocessor=preprocessor)
    classifier.save_to_preset(str(path))
    return classifier


def test_preset_teacher_reads_raw_text_and_drives_a_bkd_student(tmp_path):
    classifier = _tiny_bert_preset(tmp_path / "preset", 3)
    root = write_text_tree(tmp_path / "data", [60, 60, 60], test_per_class=10)
    out = tmp_path / "run"
    config = TrainConfig.flat(dataset="text_folder", data_dir=root, backbone="textcnn",
                              teacher_hub_preset=str(tmp_path / "preset"), method="bkd", epochs=2, batch_size=16,
                              imbalance_ratio=10, max_per_class=60, sequence_length=12, embeddings="random",
                              embedding_dim=8, mixup_alpha=0.0, learning_rate=0.05, output_dir=str(out), **QUIET)
    results = run(config, log=lambda *_: None)
    # The teacher's report comes from the preset reading raw strings: equal to keras-hub's own predict.
    from data import load_dataset
    test = load_dataset("text_folder", data_dir=root, imbalance_ratio=10, max_per_class=60, sequence_length=12).test
    reference = classifier.predict(test.texts.astype(str), verbose=0)
    top1 = 100 * np.mean(reference.argmax(1) == test.labels)
    assert results["reports"]["teacher"]["top1"] == pytest.approx(top1, abs=1e-6)
    assert "student (bkd)" in results["reports"] and "teacher" not in results["stages"]
    kd = _logged(out / "student", "kd_loss")
    assert len(kd) == 2 and min(kd) > 0
    # The exported student reads raw strings through its own tokenizer, not the teacher's.
    export = tf.saved_model.load(str(out / "export" / "saved_model"))
    assert export.serve_text(tf.constant(["goal match"])).shape == (1, 3)
    # A different preset is refused on resume-style reruns of the same folder (inputs.json).
    from bkd_keras.run import run_records
    _tiny_bert_preset(tmp_path / "other", 3)
    with pytest.raises(ConfigError, match="another teacher"):
        run_records.check_inputs(config.replace(teacher_hub_preset=str(tmp_path / "other")),
                                load_dataset(config.data))


def test_preset_teacher_errors(tmp_path, monkeypatch):
    from bkd_keras.run.hub_teacher import load_preset_teacher
    _tiny_bert_preset(tmp_path / "preset", 4)
    with pytest.raises(ConfigError, match="predicts 4 classes but the data has 3"):
        load_preset_teacher(str(tmp_path / "preset"), 3)
    with pytest.raises(ConfigError, match="not a keras-hub preset"):
        load_preset_teacher(str(tmp_path), 3)
    with pytest.raises(ConfigError, match="does not exist"):
        load_preset_teacher(str(tmp_path / "missing"), 3)

    def offline(*_, **__):
        raise OSError("Network is unreachable")

    monkeypatch.setattr(socket, "create_connection", offline)
    for handle in ("bert_tiny_en_uncased", "kaggle://keras/bert/keras/bert_tiny_en_uncased", "hf://org/model"):
        with pytest.raises(ConfigError, match="Pass a local preset folder"):
            load_preset_teacher(handle, 3)
