"""A trained model's predictions on a split, its classification report, and the teacher-fit check."""

import keras

from bkd_keras.scoring import diagnostics, evaluation
from bkd_keras.method.distiller import reads_text
from bkd_keras.method.losses import effective_number_weights
from data import eval_dataset


def predict_logits(model, dataset, split="test", verbose=0):
    """Logits (N, C) of `split` in dataset order.

    Under MultiWorkerMirroredStrategy Keras' `predict` shards the data across workers and the
    concatenated outputs are not in dataset order, so a local copy of the model predicts instead.
    """
    import tensorflow as tf
    if isinstance(getattr(model, "distribute_strategy", None), tf.distribute.MultiWorkerMirroredStrategy):
        local = keras.models.clone_model(model)     # outside the strategy's scope: not distributed
        local.set_weights(model.get_weights())
        model = local
    return model.predict(eval_dataset(dataset, 512, split, raw_text=reads_text(model)),
                         verbose=verbose)


def predict_with_experts(model, dataset, split="test", verbose="auto"):
    """(logits (N, C), experts' logits (N, E, C) or None): a multi-expert model's prediction is the
    mean of its experts' logits, so one pass gives both."""
    from models import expert_view
    view = expert_view(model)
    if view is None:
        return predict_logits(model, dataset, split, verbose=verbose), None
    experts = predict_logits(view, dataset, split, verbose=verbose)
    return experts.mean(1), experts


def evaluate(model, dataset, verbose="auto", groups="paper"):
    """The model's classification report on the test split (`groups`: evaluation.GROUP_RULES); a
    multi-expert model's also has "experts": each expert's own top1 / many / medium / few, to show
    what the ensemble adds."""
    logits, experts = predict_with_experts(model, dataset, verbose=verbose)
    report = evaluation.classification_report(dataset.test.labels, logits, dataset.class_counts, groups)
    if experts is not None:
        report["experts"] = [{k: r[k] for k in ("top1", "many", "medium", "few")} for r in (
            evaluation.classification_report(dataset.test.labels, experts[:, e], dataset.class_counts, groups)
            for e in range(experts.shape[1]))]
    return report


def check_teacher_fit(teacher, dataset, config, log=print):
    """The balanced target's agreement with the labels on the training split; warns if poor.
    A multi-expert teacher's report also has "experts": each expert's own (the targets of
    --method=bkd_per_expert)."""
    logits, experts = predict_with_experts(teacher, dataset, "train", verbose=0)
    weights = effective_number_weights(dataset.class_counts, config.method.beta)
    fit = lambda z: diagnostics.balanced_target_fit(z, dataset.train.labels, weights, config.method.temperature)
    report = fit(logits)
    log("balanced teacher target keeps the label (% of train images per class): "
        + ", ".join(f"{n} {v:.1f}" for n, v in zip(dataset.class_names, report["target_top1"]) if v is not None))
    if experts is not None:
        report["experts"] = [fit(experts[:, e]) for e in range(experts.shape[1])]
        for e, r in enumerate(report["experts"]):
            log(f"  expert {e}: " + str([round(v, 1) for v in r["target_top1"]]))
    warning = diagnostics.fit_warning(report, dataset.class_counts, class_names=dataset.class_names)
    if warning:
        log("WARNING: " + warning)
    return report
