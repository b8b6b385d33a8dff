"""Benchmark variants: a --methods entry of the runner -> (method, extra train flags)."""

import re

VARIANTS = {"bkd_nodefer": ("bkd", ["--bkd_start_epoch=0"])}
# Sweeps (paper Figs. 5, 6): METHOD_T<value> sets --temperature, METHOD_beta<value> --beta
# (beta1 = inverse frequency), e.g. bkd_T1.5, bkd_beta0.99.
SWEEP = re.compile(r"^(?P<method>[a-z_]+?)_(?P<param>T|beta)(?P<value>[0-9.]+)$")
SWEEP_FLAGS = {"T": "--temperature", "beta": "--beta"}


def resolve_variant(variant):
    """(method, extra flags) of a --methods entry; METHOD@TEACHER (kd@la: KD from the seed's LA run)
    names the variant's teacher, see `teacher_variant`."""
    variant = variant.split("@")[0]
    if variant in VARIANTS:
        return VARIANTS[variant]
    match = SWEEP.match(variant)
    if match:
        return match["method"], [f"{SWEEP_FLAGS[match['param']]}={match['value']}"]
    return variant, []


def teacher_variant(variant):
    """The --methods entry whose run teaches `variant`: the part after "@" (bkd@la -> la), else
    the method's own teacher (ce; balanced_softmax for dive). None for a method without a teacher."""
    from bkd_keras.method.methods import METHODS
    method = resolve_variant(variant)[0]
    if method not in METHODS or not METHODS[method].needs_teacher:
        return None
    return variant.split("@", 1)[1] if "@" in variant else METHODS[method].teacher
