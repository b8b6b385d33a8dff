"""A pretrained keras-hub text classifier as the frozen teacher (--teacher_hub_preset).

The preset model reads raw strings through its own preprocessor (its tokenizer and
sequence length), while the student reads the run's token ids: the training batches
carry both (`data.train_dataset(..., raw_text=True)`).
"""

import os
import socket

import keras
from keras import ops

from bkd_keras.run.config import ConfigError

# Hosts behind keras-hub's preset handles (a bare preset name resolves to Kaggle).
_HANDLE_HOSTS = {"kaggle": "www.kaggle.com", "hf": "huggingface.co", "modelscope": "www.modelscope.cn"}


@keras.saving.register_keras_serializable(package="bkd_keras")
class PresetTextTeacher(keras.Model):
    """A keras-hub `TextClassifier` with its preprocessor inside: strings (B,) -> float32 logits (B, C)."""

    reads_text = True

    def __init__(self, classifier, **kwargs):
        super().__init__(**kwargs)
        self.classifier = classifier
        self.num_classes = int(classifier.num_classes)

    def call(self, texts, training=False):
        return ops.cast(self.classifier(self.classifier.preprocessor(texts), training=training), "float32")

    def get_config(self):
        return {**super().get_config(), "classifier": keras.saving.serialize_keras_object(self.classifier)}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["classifier"] = keras.saving.deserialize_keras_object(config["classifier"])
        return cls(**config)


def _check_reachable(handle, timeout=3.0):
    scheme = handle.split("://", 1)[0] if "://" in handle else "kaggle"
    host = _HANDLE_HOSTS.get(scheme)
    if host is None:
        return
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
    except OSError:
        raise ConfigError(f"--teacher_hub_preset={handle} is a hub handle but {host} cannot be reached (offline?). "
                          "Pass a local preset folder instead: on a machine that is online, run "
                          f"keras_hub.models.TextClassifier.from_preset({handle!r}).save_to_preset(DIR) "
                          "and copy DIR here.") from None


def check_location(preset):
    """True for a local preset folder, False for a hub handle; ConfigError for a path that is not a preset."""
    if os.path.isdir(preset):
        if not os.path.exists(os.path.join(preset, "config.json")):
            raise ConfigError(f"--teacher_hub_preset={preset} is a folder but not a keras-hub preset (no config.json); "
                              "save the fine-tuned classifier with classifier.save_to_preset(DIR).")
        return True
    if os.path.exists(preset):
        raise ConfigError(f"--teacher_hub_preset={preset} is a file; pass the folder written by "
                          "classifier.save_to_preset(DIR), or a keras-hub handle.")
    if "://" not in preset and (os.sep in preset or preset.startswith(".")):
        raise ConfigError(f"--teacher_hub_preset={preset} does not exist; pass the folder written by "
                          "classifier.save_to_preset(DIR), or a keras-hub handle.")
    return False


def load_preset_teacher(preset, num_classes):
    """The frozen `PresetTextTeacher` of a keras-hub TextClassifier preset folder (or hub handle).

    Raises ConfigError when the preset cannot be read, is not a text classifier with a
    preprocessor, or predicts another number of classes than `num_classes`.
    """
    import keras_hub
    if not check_location(preset):
        _check_reachable(preset)
    try:
        classifier = keras_hub.models.TextClassifier.from_preset(preset)
    except (ValueError, TypeError, KeyError, OSError) as err:
        raise ConfigError(f"--teacher_hub_preset={preset} does not load as a keras-hub TextClassifier ({err}); "
                          "pass a text classifier preset (e.g. one saved by BertTextClassifier.save_to_preset), "
                          "not a backbone or a tokenizer alone.") from None
    if classifier.preprocessor is None:
        raise ConfigError(f"--teacher_hub_preset={preset} has no preprocessor, so it cannot read raw text; save the "
                          "classifier together with its preprocessor.")
    if int(classifier.num_classes) != num_classes:
        raise ConfigError(f"The teacher preset {preset} predicts {classifier.num_classes} classes but the data has "
                          f"{num_classes}; fine-tune the preset on this dataset's classes first.")
    teacher = PresetTextTeacher(classifier, name="preset_teacher")
    teacher.trainable = False
    return teacher
