"""Putting a stage's model together: a given teacher loaded and checked, the student with its
losses, optimizer and schedule in the training Distiller."""

import os

import keras
import numpy as np

from bkd_keras.run.config import ConfigError
from bkd_keras.method.distiller import Distiller, reads_text
from bkd_keras.run.export import read_vocabulary
from bkd_keras.run.folding import fold_batchnorm
from bkd_keras.method.optimizers import CoupledSGD
from bkd_keras.run.precision import policy_scope, with_precision
from bkd_keras.scoring.group_accuracy import GroupAccuracy
from bkd_keras.method.schedules import make_schedule
from data import steps_per_epoch
from data.embeddings import embedding_matrix
from models import backbone_options, build_backbone


def load_teacher(path, dataset):
    """Loads a trained teacher (.keras) and checks it fits `dataset`."""
    if not os.path.isfile(path) or not path.endswith(".keras"):
        raise ConfigError(f"--teacher={path} is not a .keras file; pass the model.keras of a finished "
                          "teacher (RUN/teacher/model.keras or RUN/export/model.keras).")
    import models  # noqa: F401  (registers the backbones' custom layers)
    import zipfile
    if not zipfile.is_zipfile(path):      # Keras would say "File not found" for a file that exists
        raise ConfigError(f"--teacher={path} cannot be loaded as a Keras model (it is not a zip archive: "
                          "truncated, or another format); pass the model.keras of a finished teacher run.")
    try:
        teacher = keras.saving.load_model(path, compile=False)
    except Exception as err:  # noqa: BLE001  (a user's file: any failure to load is the same fault)
        reason = " ".join(str(err).split())[:200] or type(err).__name__
        raise ConfigError(f"--teacher={path} cannot be loaded as a Keras model ({reason}); it is damaged or not "
                          "a model.keras. Pass the model.keras of a finished teacher run.") from None
    teacher = _normalised_input(teacher, path, dataset)
    if teacher.output_shape[-1] != dataset.num_classes:
        raise ConfigError(f"The teacher {path} predicts {teacher.output_shape[-1]} classes but {dataset.name} has "
                          f"{dataset.num_classes}; train a teacher on this dataset (omit --teacher).")
    if dataset.is_text and read_vocabulary(os.path.dirname(path)) != dataset.vocabulary:
        raise ConfigError(f"The teacher {path} was trained with another vocabulary than this run's "
                          f"({os.path.dirname(path)}/vocabulary.txt differs or is missing): token ids would "
                          "mean different words. Train the teacher with the same text data and "
                          "--max_tokens, or omit --teacher.")
    if tuple(teacher.input_shape[1:]) != tuple(dataset.image_shape):
        raise ConfigError(f"The teacher {path} takes images of shape {tuple(teacher.input_shape[1:])} but "
                          f"{dataset.name} has {tuple(dataset.image_shape)}; use a teacher trained on this data.")
    return teacher


def _normalised_input(teacher, path, dataset):
    """The teacher fed normalised images: a shipped classifier (uint8 in, normalisation inside,
    run/stock_model.py) without its preprocessing, which must be this run's own."""
    from bkd_keras.run.stock_model import split_preprocessing
    body, mean, std = split_preprocessing(teacher)
    if mean is not None and not dataset.is_text and not (
            np.allclose(mean, dataset.mean, atol=1e-6) and np.allclose(std, dataset.std, atol=1e-6)):
        raise ConfigError(f"The teacher {path} normalises images with mean {np.round(mean, 4).tolist()} / std "
                          f"{np.round(std, 4).tolist()}, but this run uses {np.round(dataset.mean, 4).tolist()} / "
                          f"{np.round(dataset.std, 4).tolist()}; the teacher would see other inputs than it was "
                          "trained on. Train with the teacher's data settings, or omit --teacher.")
    return body


def build_distiller(method, dataset, config, strategy, teacher=None, epochs=None, seed=None, model=None,
                    schedule=None):
    """(Distiller, Losses): student + losses + optimizer inside `strategy.scope()`, compiled and built.

    `method`: a methods.Method; `seed`: the stage's seed (mixup, text embeddings' random
    init), default `config.run.seed`; `model`: the ModelConfig of the model trained here
    (default `config.model`, the student's); `schedule`: the LR schedule (default: the config's
    for `epochs`, schedules.make_schedule).
    """
    epochs = epochs or config.optim.epochs
    seed = config.run.seed if seed is None else seed
    model = model or config.model
    steps = steps_per_epoch(dataset, config.optim.batch_size)
    embeddings = None
    if dataset.is_text:
        embeddings, _ = embedding_matrix(dataset.vocabulary, model.embeddings, model.embedding_dim, seed)
    with strategy.scope():
        with policy_scope(config.run.precision):
            student = build_backbone(model.backbone, dataset.num_classes, dataset.image_shape, method.head,
                                     embedding_matrix=embeddings, pretrained=model.pretrained,
                                     **backbone_options(model))
        losses = method.build(dataset.class_counts, config.method, epochs)
        if teacher is not None:          # the Distiller checks it fits the student
            if not reads_text(teacher):   # a preset teacher keeps its own precision
                teacher = with_precision(teacher, config.run.teacher_precision)  # a copy made in this scope
                if config.run.fold_teacher_batchnorm:
                    teacher = fold_batchnorm(teacher)
        distiller = Distiller(student=student, teacher=teacher, classification_loss=losses.classification,
                              distillation_loss=losses.distillation,
                              distillation_weight=config.method.distillation_weight,
                              mixup_alpha=method.mixup_alpha(config.method), seed=seed,
                              expert_targets=method.expert_targets and teacher is not None, name="distiller",
                              test_metrics=[GroupAccuracy.from_counts(dataset.class_counts, config.run.class_groups,
                                                                      dataset.class_names)])
        optim = config.optim
        schedule = schedule or make_schedule(optim, steps, epochs)
        optimizer = CoupledSGD(schedule, momentum=optim.momentum, l2=optim.weight_decay)
        if config.run.precision == "float16":
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        distiller.compile(optimizer=optimizer, jit_compile=config.run.jit_compile)
        distiller(np.zeros((1,) + tuple(dataset.image_shape), "int64" if dataset.is_text else "float32"))
        distiller.optimizer.build(distiller.trainable_variables)
    return distiller, losses


def trainable_parameters(model):
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))
