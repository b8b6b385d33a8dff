"""The benchmark runner end to end on the offline digits setting (1 epoch per run)."""

import json
import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def runner(tmp_path, *extra):
    cmd = [sys.executable, "-m", "benchmarks.comparison.runner", "--settings=digits:exp:20", "--methods=ce,cb,bkd",
           "--seeds=0", "--epochs=1", f"--runs_dir={tmp_path}/runs", f"--results_dir={tmp_path}/out",
           f"--store_dir={tmp_path}/store", *extra]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))


def test_runner_trains_shares_the_teacher_reports_and_skips_finished(tmp_path):
    r = runner(tmp_path)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    runs = json.load(open(tmp_path / "out" / "results.json"))
    assert [x["method"] for x in runs] == ["ce", "cb", "bkd"]
    for x in runs:
        assert {"dataset", "imbalance_type", "imbalance_ratio", "method", "seed", "epochs", "top1", "many",
                "medium", "few", "per_class", "images_per_sec", "data_source", "command"} <= set(x)
        assert x["dataset"] == "digits" and x["epochs"] == 1 and 0 <= x["top1"] <= 100
    bkd = next(x for x in runs if x["method"] == "bkd")
    assert "--teacher=" in bkd["command"] and "s0-ce/export/model.keras" in bkd["command"]
    assert not os.path.exists(tmp_path / "runs" / "digits-exp20-e1-s0-bkd" / "teacher")   # shared teacher reused
    assert os.path.exists(tmp_path / "store" / "digits-exp20-e1-s0-bkd" / "student" / "log.csv")
    assert not any(name.endswith(".keras") for _, _, files in os.walk(tmp_path / "store") for name in files)
    md = open(tmp_path / "out" / "RESULTS.md").read()
    assert "| bkd | 0 |" in md and "python -m bkd_keras.train" in md
    for name in ("per_class", "confusion", "curves"):
        assert os.path.exists(tmp_path / "out" / "plots" / f"{name}_digits-exp20-e1.png")
    again = runner(tmp_path)
    assert again.returncode == 0 and again.stdout.count("skipping finished") == 3
    # A finished run is not reused for other settings, whether training or only reporting.
    assert json.load(open(tmp_path / "store" / "digits-exp20-e1-s0-cb" / "runner_args.json"))[-1] == "--method=cb"
    for extra in ([], ["--report_only"]):
        other = runner(tmp_path, "--extra_flags=--mixup_alpha=0.5", *extra)
        assert other.returncode != 0 and "running" not in other.stdout
        assert "digits-exp20-e1-s0-ce" in other.stderr and "--mixup_alpha: not given there, 0.5 here" in other.stderr

    # A later session: no run folders, only the committed store -> nothing is retrained.
    shutil.rmtree(tmp_path / "runs")
    later = runner(tmp_path)
    assert later.returncode == 0 and later.stdout.count("(stored)") == 3 and "running" not in later.stdout
    assert json.load(open(tmp_path / "out" / "results.json")) == runs

    # A distillation run still to do: its teacher is retrained for the weights, stored results reused.
    shutil.rmtree(tmp_path / "runs")
    shutil.rmtree(tmp_path / "store" / "digits-exp20-e1-s0-bkd")
    partial = runner(tmp_path)
    assert partial.returncode == 0, partial.stdout[-2000:] + partial.stderr[-2000:]
    assert "running digits-exp20-e1-s0-ce" in partial.stdout and "running digits-exp20-e1-s0-bkd" in partial.stdout
    assert partial.stdout.count("(stored)") == 1                           # cb

    # Another invocation (here a new seed of CE only) adds to the report; earlier runs stay.
    more = runner(tmp_path, "--methods=ce", "--seeds=1")
    assert more.returncode == 0, more.stdout[-2000:] + more.stderr[-2000:]
    merged = json.load(open(tmp_path / "out" / "results.json"))
    assert sorted((x["method"], x["seed"]) for x in merged) == [("bkd", 0), ("cb", 0), ("ce", 0), ("ce", 1)]
    md = open(tmp_path / "out" / "RESULTS.md").read()
    assert "| bkd | 0 |" in md and "| ce | 0, 1 |" in md


def test_runner_plans_a_teacher_of_another_backbone():
    from benchmarks.comparison.run_plan import names, plan      # no absl flags defined in this process
    setting = ("cifar10", "exp", 100.0)

    def planned(variant, backbone, teacher_backbone):
        out, args, method = plan(setting, variant, 0, 20, "folder", "/d", "runs", [], backbone, teacher_backbone)
        return os.path.basename(out), args

    name, args = planned("ce", "resnet20", "resnet56")
    assert name == "cifar10-exp100-e20-s0-ce-resnet56" and "--backbone=resnet56" in args and "--stage=teacher" in args
    name, args = planned("bkd", "resnet20", "resnet56")
    assert name == "cifar10-exp100-e20-s0-bkd-resnet20-from-resnet56" and "--backbone=resnet20" in args
    assert "--teacher=runs/cifar10-exp100-e20-s0-ce-resnet56/export/model.keras" in args
    assert names("bkd", "resnet20", "resnet56")[1] == "bkd (resnet56 -> resnet20)"
    # Only --backbone: teacher and students share it; the CE row is that backbone's CE.
    assert planned("ce", "resnet20", None)[0] == "cifar10-exp100-e20-s0-ce-resnet20"
    assert names("kd", "resnet20", None) == ("kd-resnet20", "kd (resnet20)")
    # Neither: the folders and labels of the earlier benchmarks are unchanged.
    assert planned("bkd", None, None)[0] == "cifar10-exp100-e20-s0-bkd" and names("ce") == ("ce", "ce")


def test_runner_plans_students_of_other_teacher_kinds():
    from benchmarks.comparison.run_plan import names, plan, teacher_label
    from benchmarks.comparison.variants import resolve_variant, teacher_variant
    setting = ("cifar10", "exp", 100.0)

    def planned(variant):
        out, args, method = plan(setting, variant, 1, 20, "folder", "/d", "runs", [])
        return os.path.basename(out), args, method
    name, args, method = planned("kd@la")
    assert (name, method) == ("cifar10-exp100-e20-s1-kd-la_teacher", "kd")
    assert "--teacher=runs/cifar10-exp100-e20-s1-la/export/model.keras" in args and "--teacher_method=la" in args
    # DiVE's own teacher is the seed's balanced-softmax run, never the CE one
    name, args, _ = planned("dive")
    assert "--teacher=runs/cifar10-exp100-e20-s1-balanced_softmax/export/model.keras" in args
    assert planned("bkd")[1][-2:] == ["--teacher=runs/cifar10-exp100-e20-s1-ce/export/model.keras", "--method=bkd"]
    assert planned("la")[0] == "cifar10-exp100-e20-s1-la"        # the LA row is the LA teacher's run
    assert [teacher_variant(v) for v in ("kd@la", "dive", "bkd", "la", "bkd_T3")] == ["la", "balanced_softmax",
                                                                                     "ce", None, "ce"]
    assert resolve_variant("bkd_T3@la") == ("bkd", ["--temperature=3"])
    assert names("bkd@la")[1] == "bkd@la" and teacher_label("bkd@la") == "la" and teacher_label("dive") == "balanced_softmax"
    assert teacher_label("bkd (resnet56 -> resnet20)") == "ce (resnet56)"


def test_runner_names_multi_expert_runs_by_their_expert_count():
    from benchmarks.comparison.run_plan import names, plan
    out, args, _ = plan(("cifar10", "exp", 100.0), "bkd", 0, 20, "folder", "/d", "runs", [], "ride_resnet32",
                        None, 2)
    assert os.path.basename(out) == "cifar10-exp100-e20-s0-bkd-ride_resnet32x2"
    assert "--experts=2" in args and "--backbone=ride_resnet32" in args
    assert "--teacher=runs/cifar10-exp100-e20-s0-ce-ride_resnet32x2/export/model.keras" in args
    # 2 and 3 experts are separate rows and teachers.
    assert names("ce", "ride_resnet32", None, 3) == ("ce-ride_resnet32x3", "ce (ride_resnet32x3)")
    assert names("ride", "ride_resnet32", None, 2)[1] == "ride (ride_resnet32x2)"


def test_onednn_profile_groups_verbose_lines_per_step():
    from benchmarks.speed_lab.onednn_verbose import parse
    lines = [
        "onednn_verbose,v1,primitive,exec,cpu,convolution,jit:avx2,backward_weights,src:f32::blocked:acdb::f0,,mb128,3.0",
        "onednn_verbose,v1,primitive,exec,cpu,convolution,jit:avx2,backward_weights,src:f32::blocked:acdb::f0,,mb128,5.0",
        "onednn_verbose,v1,primitive,exec,cpu,convolution,brg_conv_fwd:avx2,forward_training,src,,mb128,1.5",
        "onednn_verbose,v1,primitive,exec,cpu,reorder,jit:uni,undef,src dst,,16x3x3x3,0.5",
        "onednn_verbose,v1,primitive,create:cache_miss,cpu,convolution,jit:avx2,backward_weights,src,,mb128,9.0",
        "onednn_verbose,v1,info,cpu,isa:Intel AVX2",
        "Epoch 1/1",
    ]
    got = parse(lines, steps=2)
    assert list(got) == ["convolution,backward_weights", "convolution,forward_training", "reorder,undef"]
    assert got["convolution,backward_weights"] == {"ms_per_step": 4.0, "calls_per_step": 1.0,
                                                   "kernels": {"jit:avx2": 4.0}}
    assert got["convolution,forward_training"]["ms_per_step"] == 0.75
    assert got["reorder,undef"]["kernels"] == {"jit:uni": 0.25}


def test_tf_trace_reads_op_events_and_sorts_a_bkd_step_into_its_parts(tmp_path):
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    from benchmarks.speed_lab.tf_trace import classify, model_scopes, op_events
    space = xplane_pb2.XSpace()
    plane = space.planes.add(name="/host:CPU")
    labels = ["StatefulPartitionedCall/resnet32_1/conv_1/convolution:_MklNativeConv2D",        # teacher
              "StatefulPartitionedCall/resnet32_3/conv_1/convolution:_MklNativeConv2D",        # student
              "StatefulPartitionedCall/gradient_tape/resnet32_3/conv_1/convolution/Conv2DBackpropFilter"
              ":_MklNativeConv2DBackpropFilter",
              "StatefulPartitionedCall/gradient_tape/resnet32_3/relu_1/ReluGrad:ReluGrad",
              "StatefulPartitionedCall/resnet32_3/bn_1/FusedBatchNormV3:_MklNativeFusedBatchNormEx",
              "StatefulPartitionedCall/coupled_sgd/Mul:Mul",
              "StatefulPartitionedCall/Add_3:AddV2",
              "ExecutorState::Process"]                                                        # not an op
    for i, label in enumerate(labels, 1):
        plane.event_metadata[i].name = label
    line = plane.lines.add(name="tf_Compute/1", timestamp_ns=1000)
    for i, (offset, duration) in enumerate([(0, 5), (10, 2), (20, 7), (30, 1), (40, 3), (50, 1), (60, 4), (0, 99)], 1):
        line.events.add(metadata_id=i, offset_ps=offset * 10**9, duration_ps=duration * 10**9)
    other = plane.lines.add(name="tf_data_iterator_resource/7")     # the pipeline's threads are left out
    other.events.add(metadata_id=7, offset_ps=0, duration_ps=10**12)
    path = tmp_path / "t.xplane.pb"
    path.write_bytes(space.SerializeToString())

    events = op_events(str(path))
    assert len(events) == 7
    assert events[0] == ("StatefulPartitionedCall/resnet32_1/conv_1/convolution", "_MklNativeConv2D",
                         1000 * 1000, 5 * 10**9)
    student, teacher = model_scopes(events, {"resnet32"})
    assert (student, teacher) == ({"resnet32_3"}, {"resnet32_1"})
    parts = [classify(n, t, student, teacher, "coupled_sgd") for n, t, _, _ in events]
    assert parts == ["teacher forward", "student convolutions, forward", "student convolutions, backward",
                     "student ReLU, adds, casts and other ops", "student BatchNorm, forward", "optimizer update",
                     "mixup, losses, metrics, finite check"]


def test_per_class_table_compares_each_row_with_its_teachers_seeds():
    from benchmarks.comparison.report import _per_class_table, teacher_label
    assert teacher_label("bkd (resnet56 -> resnet20)") == "ce (resnet56)"
    assert teacher_label("kd (ride_resnet32x2)") == "ce (ride_resnet32x2)" and teacher_label("bkd_T1") == "ce"

    def run(seed, per_class):
        return {"seed": seed, "per_class": per_class, "train_counts": [100, 10, 1]}
    variants = {"ce": [run(0, [90.0, 50.0, 10.0]), run(1, [80.0, 40.0, None])],
                "bkd": [run(1, [70.0, 60.0, 30.0])],                    # against CE seed 1 only
                "cb": [run(1, [None, 60.0, 30.0])],
                "ce (resnet56)": [run(0, [100.0, 60.0, 20.0])],
                "bkd (resnet56 -> resnet20)": [run(0, [95.0, 70.0, 50.0])],
                "kd (resnet56 -> resnet20)": [run(2, [1.0, 2.0, 3.0])]}  # its teacher lacks seed 2
    lines = _per_class_table(variants).splitlines()
    assert lines[2] == "| method | 0 (100) | 1 (10) | 2 (1) |"
    assert lines[4] == "| ce | 85.0 | 45.0 | 10.0 |"                   # a class a run cannot score is skipped
    assert lines[5] == "| bkd | 70.0 (-10.0) | 60.0 (+20.0) | 30.0 |"
    assert lines[6] == "| cb | n/a | 60.0 (+20.0) | 30.0 |"
    assert lines[8] == "| bkd (resnet56 -> resnet20) | 95.0 (-5.0) | 70.0 (+10.0) | 50.0 (+30.0) |"
    assert lines[9] == "| kd (resnet56 -> resnet20) | 1.0 | 2.0 | 3.0 |"
    assert _per_class_table({"ce": [{"seed": 0, "per_class": [1] * 30, "train_counts": [5] * 30}]}) == ""


def test_results_table_shows_each_rows_precision_and_hand_computed_means():
    from benchmarks.comparison.report import _table

    def run(seed, top1, precision):
        return {"seed": seed, "top1": top1, "many": top1, "medium": None, "few": None, "precision": precision,
                "per_class": [80.0, 60.0, 40.0, 20.0], "images_per_sec": 100.0 + seed}
    variants = {"ce": [run(0, 50.0, "bfloat16"), run(1, 52.0, "float32")],
                "la": [run(0, 66.0, "float32")],
                "old": [run(0, 10.0, None)]}
    lines = _table(("cifar10", "exp", 100.0, 20), variants).splitlines()
    assert lines[0].startswith("| method | seeds | precision | top-1 % |") and lines[1] == "|---" * 11 + "|"
    # mean ± sample std of 50 and 52 is 51.0 ± 1.4; head / tail halves of [80, 60, 40, 20] are 70 / 30
    assert lines[2] == "| ce | 0, 1 | bfloat16, float32 | 51.0 ± 1.4 | 51.0 ± 1.4 | absent | absent | 70.0 ± 0.0 | " \
                       "30.0 ± 0.0 | 70.4 | 100 |"
    assert lines[3].startswith("| la | 0 | float32 | 66.0 |") and lines[3].endswith("| 77.9 | 100 |")
    assert lines[4].startswith("| old | 0 | n/a | 10.0 |")


def test_experts_table_lists_each_expert_beside_the_ensemble():
    from benchmarks.comparison.report import _experts_table

    def expert(top1, many):
        return {"top1": top1, "many": many, "medium": 30.0, "few": None}

    def run(seed, top1, experts=None):
        return {"seed": seed, "top1": top1, "many": 70.0, "medium": 40.0, "few": None, "experts": experts}
    variants = {"ce": [run(0, 50.0)],                                   # one model: no expert rows
                "ride (ride_resnet32x2)": [run(0, 60.0, [expert(55.0, 80.0), expert(52.0, 76.0)]),
                                           run(1, 62.0, [expert(57.0, 82.0), expert(50.0, 74.0)])]}
    lines = _experts_table(variants).splitlines()
    assert lines[2] == "| method | model | top-1 % | Many % | Medium % | Few % |"
    # ensemble 60 / 62 -> 61.0 ± 1.4; expert 0: 55 / 57 -> 56.0 ± 1.4, Many 80 / 82 -> 81.0 ± 1.4
    assert lines[4] == "| ride (ride_resnet32x2) | ensemble | 61.0 ± 1.4 | 70.0 ± 0.0 | 40.0 ± 0.0 | absent |"
    assert lines[5] == "| ride (ride_resnet32x2) | expert 0 | 56.0 ± 1.4 | 81.0 ± 1.4 | 30.0 ± 0.0 | absent |"
    assert lines[6] == "| ride (ride_resnet32x2) | expert 1 | 51.0 ± 1.4 | 75.0 ± 1.4 | 30.0 ± 0.0 | absent |"
    assert len(lines) == 7
    assert _experts_table({"ce": [run(0, 50.0)]}) == ""


def test_report_draws_curves_from_the_store_when_the_run_folder_is_gone(tmp_path):
    """Rows merged from earlier sessions name run folders that no longer exist; their curves come
    from the store's copy of the log, and a setting without any log gets no (empty) curves plot."""
    from benchmarks.comparison.report import write_all

    def row(dataset, run_dir):
        return {"dataset": dataset, "imbalance_type": "exp", "imbalance_ratio": 20.0, "epochs": 2,
                "method": "ce", "variant": "ce", "seed": 0, "top1": 55.0, "many": 60.0, "medium": 50.0,
                "few": None, "per_class": [60.0, 50.0], "confusion_matrix": [[6, 4], [5, 5]],
                "train_counts": [100, 10], "images_per_sec": 10.0, "data_source": "test", "run_dir": run_dir,
                "command": "python -m bkd_keras.train"}
    log = tmp_path / "store" / "a-s0-ce" / "teacher" / "log.csv"
    log.parent.mkdir(parents=True)
    log.write_text("epoch,accuracy,loss,val_accuracy\n0,0.4,1.5,NA\n1,0.6,1.2,0.55\n")
    write_all([row("a", str(tmp_path / "runs" / "a-s0-ce")), row("b", str(tmp_path / "runs" / "b-s0-ce"))],
              str(tmp_path / "out"), str(tmp_path / "store"))
    md = (tmp_path / "out" / "RESULTS.md").read_text()
    assert "plots/curves_a-exp20-e2.png" in md and (tmp_path / "out" / "plots" / "curves_a-exp20-e2.png").exists()
    assert "curves_b-exp20-e2" not in md and not (tmp_path / "out" / "plots" / "curves_b-exp20-e2.png").exists()


def test_finished_run_without_recorded_argv_is_checked_against_its_flags_json(tmp_path):
    """Runs stored before runner_args.json: the flags a command sets must mean flags.json's values."""
    from absl import app
    from benchmarks.comparison.run_plan import check_same_settings
    folder = tmp_path / "old-run"
    folder.mkdir()
    (folder / "flags.json").write_text(json.dumps({
        "imbalance_ratio": 100.0, "lr_decay_at": [0.8, 0.9], "fold_teacher_batchnorm": False,
        "precision": "bfloat16", "teacher": "elsewhere/model.keras", "pretrained": None}))
    check_same_settings(str(folder), ["--imbalance_ratio=100", "--lr_decay_at=0.8,0.9", "--nofold_teacher_batchnorm",
                                      "--fold_teacher_batchnorm=false", "--precision=bfloat16",
                                      "--teacher=here/model.keras", "--unknown_to_old_runs=1"])
    for wrong, named in (("--imbalance_ratio=50", "--imbalance_ratio: 100.0 there, 50 here"),
                         ("--lr_decay_at=0.8", "--lr_decay_at: [0.8, 0.9] there, 0.8 here"),
                         ("--fold_teacher_batchnorm", "--fold_teacher_batchnorm: False there, true here"),
                         ("--precision=float32", "--precision: bfloat16 there, float32 here"),
                         ("--pretrained=imagenet", "--pretrained: None there, imagenet here")):
        try:
            check_same_settings(str(folder), [wrong])
        except app.UsageError as err:
            assert named in str(err) and "old-run" in str(err)
        else:
            raise AssertionError(f"{wrong} was not refused")


def test_machine_records_the_thread_pool_variables_that_are_set(monkeypatch):
    from benchmarks.speed_lab import machine
    for name in machine.THREAD_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    assert machine.thread_settings() == {}
    monkeypatch.setenv("TF_NUM_INTEROP_THREADS", "1")
    assert machine.thread_settings() == {"TF_NUM_INTEROP_THREADS": "1"}
