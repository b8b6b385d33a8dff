"""The training model: a trainable student, an optional frozen teacher, mixup, two losses."""

import types

import keras
import tensorflow as tf
from keras import ops

from bkd_keras.method import expert_losses, losses as losses_lib
from bkd_keras.method.mixup import mix_batch, sample_mixup, unpack_draws
from bkd_keras.method.replicas import global_batch_size, global_sum, num_replicas, step_logs


@keras.saving.register_keras_serializable(package="bkd_keras")
class Distiller(keras.Model):
    """Trains `student` with  classification_loss + distillation_weight * distillation_loss.

    Batches are (x, y) or, with mixup's draws made in the pipeline, (x, y, draws) from
    `data.mixup_draws.attach_mixup` (needed for `jit_compile`); plain batches draw in the step.
    Algorithm 1 of the paper: mixup on the batch (if `mixup_alpha` > 0), the frozen
    teacher predicts on the same mixed batch in inference mode, the student's CE uses
    the mixed labels. Without a teacher this trains a plain (CE / CB / mixup) model,
    so every method goes through one training step. `call`, `evaluate` and `predict`
    use the student only.

    Args:
      student: logits model (B, H, W, C) -> (B, num_classes).
      teacher: logits model with the same input shape and class count, or None.
      classification_loss: per-example loss(y, student_logits) -> (B,), y labels or
        soft targets; default plain CE.
      distillation_loss: per-example loss(teacher_logits, student_logits) -> (B,),
        e.g. `BalancedKDLoss`; required with a teacher.
      distillation_weight: lambda of the paper (1.0).
      mixup_alpha: Beta(alpha, alpha) for mixup; 0 disables.
      seed: seed of mixup's in-step draws (with the optimizer step: resume-exact).
      test_metrics: more Keras metrics of (labels (B,), logits (B, C)) updated only by `evaluate`
        and fit's validation, e.g. scoring.group_accuracy.GroupAccuracy (the tail while training).

    A multi-expert student (a layer named models.EXPERT_LAYER, e.g. ride_resnet32) is trained
    on its experts' logits (B, E, C): the classification loss per expert, summed
    (`expert_losses.expert_sum`), and each expert distils from the teacher's ensemble logits, or with
    `expert_targets` from the teacher's expert of the same index (`expert_losses.expert_distillation`).

    A teacher that reads raw text (`reads_text`, e.g. hub_teacher.PresetTextTeacher) gets
    batches whose inputs are {"tokens": ids for the student, "text": strings for the teacher}.
    """

    def __init__(self, *args, student=None, teacher=None, classification_loss=None, distillation_loss=None,
                 distillation_weight=1.0, mixup_alpha=0.0, seed=None, expert_targets=False, test_metrics=(),
                 **kwargs):
        # Keyword-only: keras.distillation.Distiller takes (teacher, student), this one took (student,
        # teacher); a positional call in the other order would train the teacher without an error.
        if args or student is None:
            raise TypeError("Distiller takes its models by keyword: Distiller(student=..., teacher=..., ...) "
                            "(keras.distillation.Distiller takes them in the order (teacher, student)).")
        super().__init__(**kwargs)
        if (teacher is None) != (distillation_loss is None):
            raise ValueError("A teacher and a distillation loss go together: pass both or neither.")
        check_mixup_alpha(mixup_alpha)
        self.student = student
        self.teacher = teacher
        self.num_classes = int(student.output_shape[-1])
        if teacher is not None:
            check_compatible(teacher, student)
            teacher.trainable = False
        self.classification_loss = classification_loss or losses_lib.ClassificationLoss()
        self.distillation_loss = distillation_loss
        self.distillation_weight = float(distillation_weight)
        self.mixup_alpha = float(mixup_alpha)
        self.seed = seed
        from models import expert_view
        self.expert_targets = bool(expert_targets)
        # Views sharing the models' layers, returning the experts' logits; held untracked so that
        # Keras does not count (or save, or optimise) their weights a second time.
        self._views = types.SimpleNamespace(
            student=expert_view(student),
            teacher=expert_view(teacher) if teacher is not None and expert_targets else None)
        if expert_targets and (self._views.student is None or self._views.teacher is None):
            raise ValueError("Per-expert distillation needs a multi-expert teacher and student "
                             "(--backbone=ride_resnet32 for both).")
        if expert_targets and self._views.student.output_shape[1] != self._views.teacher.output_shape[1]:
            raise ValueError(f"Per-expert distillation needs as many teacher experts "
                             f"({self._views.teacher.output_shape[1]}) as student experts "
                             f"({self._views.student.output_shape[1]}).")
        self.total_tracker = keras.metrics.Mean(name="loss")
        self.ce_tracker = keras.metrics.Mean(name="ce_loss")
        self.kd_tracker = keras.metrics.Mean(name="kd_loss") if teacher is not None else None
        self.accuracy_tracker = keras.metrics.SparseCategoricalAccuracy(name="accuracy")
        self.test_metrics = list(test_metrics)

    @property
    def _train_metrics(self):
        return [m for m in (self.total_tracker, self.ce_tracker, self.kd_tracker, self.accuracy_tracker) if m]

    @property
    def metrics(self):
        return self._train_metrics + self.test_metrics

    def call(self, inputs, training=False):
        return self.student(_student_inputs(inputs), training=training)

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        # Keras 3.15 builds a model inside `fit` by reducing a distributed batch, which fails
        # under MultiWorkerMirroredStrategy ("Attempt to convert a value (PerReplica...)").
        # A distiller whose layers and optimizer are already built needs no symbolic build.
        if all(layer.built for layer in self._flatten_layers()) and (self.optimizer is None or self.optimizer.built):
            return None
        return super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)

    def _mix(self, data, images, targets, batch):
        """Mixup of the student's batch with the pipeline's draws (attach_mixup), or, for plain
        (x, y) batches, draws made here from (seed, step) as the pipeline would."""
        if len(data) > 2 and isinstance(data[2], dict):
            lam, permutation = unpack_draws(data[2])
        else:
            step_seed = ops.stack([ops.cast(self.seed or 0, "int64"), ops.cast(self.optimizer.iterations, "int64")])
            lam, permutation = sample_mixup(batch, self.mixup_alpha, step_seed)
        return mix_batch(images, targets, lam, permutation)

    def train_step(self, data):
        inputs, labels = data[0], data[1]
        images = _student_inputs(inputs)
        labels = ops.reshape(ops.cast(labels, "int32"), (-1,))
        batch = ops.shape(images)[0]
        targets = ops.one_hot(labels, self.num_classes)
        if self.mixup_alpha > 0:
            images, targets = self._mix(data, images, targets, batch)
        teacher_logits = None
        if self.teacher is not None:
            teacher_inputs = inputs["text"] if isinstance(inputs, dict) else images
            teacher = self._views.teacher or self.teacher
            teacher_logits = ops.stop_gradient(teacher(teacher_inputs, training=False))

        with tf.GradientTape() as tape:
            # A single model is one expert: (B, 1, C), and the sums over experts are its losses.
            experts = self._views.student(images, training=True) if self._views.student is not None \
                else ops.expand_dims(self.student(images, training=True), 1)
            logits = ops.mean(experts, axis=1)
            ce_share = None
            if getattr(self.classification_loss, "weighted_mean", False):   # its authors' weighted mean
                ce_share, ce = self.classification_loss.batch_loss(targets, experts, global_sum)
            else:
                ce = expert_losses.expert_sum(self.classification_loss, targets, experts)
            per_example = ce
            if teacher_logits is not None:
                kd = expert_losses.expert_distillation(self.distillation_loss, teacher_logits, experts)
                per_example = per_example + self.distillation_weight * kd
            # Reduced over the GLOBAL batch: apply_gradients sums replica gradients.
            if ce_share is None:
                loss = ops.sum(per_example) / global_batch_size(batch)
            else:
                loss = ce_share
                if teacher_logits is not None:
                    loss = loss + self.distillation_weight * ops.sum(kd) / global_batch_size(batch)
            if self.student.losses:
                loss = loss + ops.sum(self.student.losses) / num_replicas()
            scaled_loss = self.optimizer.scale_loss(loss)
        gradients = tape.gradient(scaled_loss, self.student.trainable_weights)
        self.optimizer.apply_gradients(zip(gradients, self.student.trainable_weights))

        local = ops.cast(batch, "float32")
        # The logged loss is NaN when a gradient is not finite: Grappler fuses FusedBatchNorm +
        # ReLU into one kernel whose ReLU maps NaN to 0, so a NaN (e.g. a broken image) can poison
        # the weights and BatchNorm statistics while the loss stays finite. The loss is what
        # StopOnNonFiniteLoss watches.
        # (An embedding's gradient is IndexedSlices: check its rows, do not densify it.)
        finite = ops.all(ops.stack([ops.all(ops.isfinite(g.values if isinstance(g, tf.IndexedSlices) else g))
                                    for g in gradients if g is not None]))
        step_loss = ops.where(finite, ops.mean(per_example), float("nan"))
        self.total_tracker.update_state(step_loss, sample_weight=local)
        self.ce_tracker.update_state(ops.mean(ce), sample_weight=local)
        if teacher_logits is not None:
            self.kd_tracker.update_state(ops.mean(kd), sample_weight=local)
        self.accuracy_tracker.update_state(ops.argmax(targets, axis=-1), logits)
        return step_logs(self._train_metrics)

    def test_step(self, data):
        images, labels = _student_inputs(data[0]), data[1]
        labels = ops.reshape(ops.cast(labels, "int32"), (-1,))
        logits = self.student(images, training=False)
        ce = losses_lib.soft_cross_entropy(labels, logits)
        local = ops.cast(ops.shape(images)[0], "float32")
        self.total_tracker.update_state(ops.mean(ce), sample_weight=local)
        self.ce_tracker.update_state(ops.mean(ce), sample_weight=local)
        self.accuracy_tracker.update_state(labels, logits)
        for metric in self.test_metrics:
            metric.update_state(labels, logits)
        return step_logs((self.total_tracker, self.ce_tracker, self.accuracy_tracker, *self.test_metrics))

    def get_config(self):
        return {
            **super().get_config(),
            "student": keras.saving.serialize_keras_object(self.student),
            "teacher": None if self.teacher is None else keras.saving.serialize_keras_object(self.teacher),
            "classification_loss": keras.saving.serialize_keras_object(self.classification_loss),
            "distillation_loss": None if self.distillation_loss is None
            else keras.saving.serialize_keras_object(self.distillation_loss),
            "distillation_weight": self.distillation_weight,
            "mixup_alpha": self.mixup_alpha,
            "seed": self.seed,
            "expert_targets": self.expert_targets,
            "test_metrics": [keras.saving.serialize_keras_object(m) for m in self.test_metrics],
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("student", "teacher", "classification_loss", "distillation_loss"):
            if config.get(key) is not None:
                config[key] = keras.saving.deserialize_keras_object(config[key])
        config["test_metrics"] = [keras.saving.deserialize_keras_object(m) for m in config.get("test_metrics", ())]
        return cls(**config)


def check_mixup_alpha(alpha):
    """The rule for mixup's Beta(alpha, alpha) (its one home; the config check reuses it)."""
    if alpha < 0:
        raise ValueError(f"mixup_alpha must be >= 0 (0 disables mixup), got {alpha}.")


def reads_text(model):
    """True for a teacher that reads raw strings itself (hub_teacher.PresetTextTeacher)."""
    return bool(getattr(model, "reads_text", False))


def _student_inputs(inputs):
    return inputs["tokens"] if isinstance(inputs, dict) else inputs


def check_compatible(teacher, student):
    """Raises ValueError unless teacher and student share input shape and class count.

    A teacher reading raw text (`reads_text`) has its own input: only classes are compared.
    """
    t_out = getattr(teacher, "num_classes", None) or teacher.output_shape[-1]
    s_out = student.output_shape[-1]
    if t_out != s_out:
        raise ValueError(f"The teacher predicts {t_out} classes but the student {s_out}; "
                         "use a teacher trained on the same dataset.")
    if reads_text(teacher):
        return
    t_in, s_in = tuple(teacher.input_shape[1:]), tuple(student.input_shape[1:])
    if t_in != s_in:
        raise ValueError(f"The teacher takes inputs of shape {t_in} but the student {s_in}; "
                         "use a teacher trained on the same image size.")
