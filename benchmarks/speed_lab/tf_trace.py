"""TensorFlow profiler traces (XSpace protobufs) read per op, and a BKD step's ops sorted into its parts
(used by `benchmarks/speed_lab/op_profile.py`)."""

import re

PARTS = ("student convolutions, forward", "student convolutions, backward", "student BatchNorm, forward",
         "student BatchNorm, backward", "student ReLU, adds, casts and other ops", "teacher forward",
         "optimizer update", "mixup, losses, metrics, finite check")
_CONV_BACKWARD = re.compile(r"Conv2DBackprop(Input|Filter)")
_CONV = re.compile(r"Conv2D")   # after the backward check: _MklNativeConv2D, _FusedConv2D, ...
_BN_BACKWARD = re.compile(r"FusedBatchNormGrad")
_BN = re.compile(r"FusedBatchNorm")


def model_scopes(events, model_names):
    """(student scopes, teacher scopes): the graph's name scopes of the models' calls.

    Student and teacher share a backbone, hence a model name; TensorFlow uniquifies each call's
    scope ("resnet32_1", "resnet32_3"). The student's are those its gradients are taken under
    ("gradient_tape/<scope>/..."); the others are the frozen teacher's."""
    pattern = re.compile("^(%s)(_[0-9]+)?$" % "|".join(map(re.escape, model_names)))
    scopes, trained = set(), set()
    for name, *_ in events:
        parts = name.split("/")
        scopes.update(p for p in parts if pattern.match(p))
        trained.update(parts[i + 1] for i, p in enumerate(parts[:-1]) if p == "gradient_tape")
    return scopes & trained, scopes - trained


def classify(name, op_type, student_scopes, teacher_scopes, optimizer):
    """The part of PARTS an op belongs to, from its scoped name and type."""
    scopes = set(name.split("/"))
    if scopes & teacher_scopes:
        return "teacher forward"
    if optimizer in scopes:
        return "optimizer update"
    if _CONV_BACKWARD.search(op_type):
        return "student convolutions, backward"
    if _CONV.search(op_type):
        return "student convolutions, forward"
    if _BN_BACKWARD.search(op_type):
        return "student BatchNorm, backward"
    if _BN.search(op_type):
        return "student BatchNorm, forward"
    if scopes & student_scopes:
        return "student ReLU, adds, casts and other ops"
    return "mixup, losses, metrics, finite check"


def op_events(xplane_path):
    """[(name, op_type, start_ps, duration_ps)] of the ops TensorFlow's executor ran (host plane)."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    space = xplane_pb2.XSpace()
    with open(xplane_path, "rb") as f:
        space.ParseFromString(f.read())
    events = []
    for plane in space.planes:
        if not plane.name.startswith("/host:CPU"):
            continue
        for line in plane.lines:
            if not line.name.startswith("tf_Compute"):   # the inter-op threads that run graph ops
                continue
            for event in line.events:
                label = plane.event_metadata[event.metadata_id].name
                if ":" not in label or "::" in label:    # "scope/name:Type"; not the executor's own regions
                    continue
                name, op_type = label.rsplit(":", 1)
                events.append((name, op_type, line.timestamp_ns * 1000 + event.offset_ps, event.duration_ps))
    return events
