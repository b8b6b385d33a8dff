"""A run folder on disk: checked before anything is read, locked while a run uses it, never
clobbered, and written only once training starts.

OUT/flags.json holds the run's settings by flag name, OUT/inputs.json the fingerprints of its
data and teacher; a finished run also has OUT/results.json and OUT/export/. `RunFolder` is the
life of a folder during one run (see its docstring); `load_run` gives benchmarks and analyses a
finished run's config, data and model.
"""

import contextlib
import csv
import os
import shutil

from bkd_keras.scoring import evaluation
from bkd_keras.run.config import ConfigError, TrainConfig
from bkd_keras.run.io_utils import atomic_write_json, atomic_write_text, read_json

# Paths may move between machines: the data and a given teacher are checked by content
# instead (RunFolder.check_inputs). Thread counts and the backup interval say how this machine
# runs the steps, not which steps run: a run continued on another machine picks its own.
IGNORED_ON_RESUME = ("overwrite", "verbose", "output_dir", "data_dir", "teacher", "teacher_preset",
                     "threads", "save_every_steps", "class_groups")
LOCK = ".lock"            # held (flock) by the process using the folder
REPLACED = ".replaced"    # --overwrite: the old run, kept until the new one starts training
# What a run folder may hold before its flags.json exists: files the benchmark runner writes
# first, and the folder's own bookkeeping. Anything else makes it someone else's folder.
RUN_ENTRIES = {"flags.json", "inputs.json", "results.json", "runner_args.json", "code.json", "teacher", "student",
               "export", LOCK, REPLACED}


def flat_settings(config):
    """{flag name: value} of `config`, with every method setting (defaults filled), JSON-ready."""
    from bkd_keras.method.methods import all_settings
    return {**TrainConfig().to_flat(), **{s.name: s.default for s in all_settings()}, **config.to_flat()}


def _is_worker_folder(name):
    return name.startswith(".worker")      # other workers' folders (OUT/.workerN) are theirs


def _inside(path, folder):
    """True if `path` is `folder` or lies under it (both resolved)."""
    path, folder = os.path.realpath(path), os.path.realpath(folder)
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _read_json(path, fix):
    try:
        return read_json(path)
    except (ValueError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path} is not valid JSON ({err}); {fix}") from None


class RunFolder:
    """OUT during one run: `check()` before the data is read, then `with folder.opened(dataset):`.

    `opened` takes an OS lock on OUT (a second process gets one line naming the holder's pid;
    the lock dies with its process), refuses a finished run or a resume with other settings or
    inputs, and with --overwrite moves the old run into OUT/.replaced. Nothing is written until
    `start()` (called when the first stage is about to train): it writes flags.json and
    inputs.json and deletes the old run. A run that fails before that leaves the folder as it
    was: the old run moved back, no settings recorded.
    """

    def __init__(self, config):
        self.config = config
        self.out = config.run.output_dir
        self._lock = None
        self._started = False
        self._created = False

    def path(self, *parts):
        return os.path.join(self.out, *parts)

    def _entries(self):
        return [n for n in os.listdir(self.out) if not _is_worker_folder(n)] if os.path.isdir(self.out) else []

    def check(self):
        """Raises ConfigError if OUT cannot hold this run; reads, never writes."""
        out, run = self.out, self.config.run
        if os.path.exists(out) and not os.path.isdir(out):
            raise ConfigError(f"--output_dir={out} is a file; pass a folder (new or a run folder).")
        data_dir = self.config.data.data_dir
        if data_dir and os.path.exists(data_dir) and _inside(data_dir, out):
            raise ConfigError(f"--output_dir={out} is or contains the data folder {data_dir}: a run writes into "
                              "its folder and --overwrite replaces it. Pass an --output_dir outside the data.")
        if run.overwrite and run.teacher and _inside(run.teacher, out):
            raise ConfigError(f"--teacher={run.teacher} lies inside --output_dir={out}, which --overwrite "
                              "replaces; copy the teacher elsewhere or pass another --output_dir.")
        entries = self._entries()
        if not entries:
            return
        holder = None if self._lock is not None else _lock_holder(self.path(LOCK))   # not our own lock
        if holder:
            raise _in_use(out, holder)
        if "flags.json" not in entries:
            foreign = sorted(set(entries) - RUN_ENTRIES)
            if foreign:
                raise ConfigError(f"{out} is not empty and is not a run folder (it holds {', '.join(foreign[:3])}"
                                  f"{', ...' if len(foreign) > 3 else ''}); pass a new or empty --output_dir. "
                                  "--overwrite only replaces run folders.")
        if run.overwrite:
            return
        if "results.json" in entries:
            raise ConfigError(f"{out} holds a finished run; pass --overwrite to replace it, or another --output_dir.")
        if "flags.json" in entries:
            self._check_settings()

    def _check_settings(self):
        fix = "fix or delete it, or pass --overwrite / another --output_dir."
        # A setting added after the run started is unchanged if it has its default.
        previous = {**flat_settings(TrainConfig()), **_read_json(self.path("flags.json"), fix)}
        current = flat_settings(self.config)
        changed = sorted(k for k in current if k not in IGNORED_ON_RESUME and previous.get(k) != current[k])
        if changed:
            raise ConfigError(f"{self.out} holds an unfinished run with other settings ({', '.join(changed)}); "
                              "rerun with its settings to resume, or pass --overwrite / another --output_dir.")

    @contextlib.contextmanager
    def opened(self, dataset):
        """Locks OUT and readies it for `dataset`'s run (see the class docstring); yields self."""
        self._acquire()
        try:
            self._recover()
            self.check()
            self.inputs = (current_inputs(self.config, dataset) if self.config.run.overwrite
                           else check_inputs(self.config, dataset, self.out))
            if self.config.run.overwrite:
                self._set_aside()
            yield self
        except BaseException:
            if not self._started:
                self._recover()
            raise
        finally:
            self._release()

    def start(self):
        """Training begins: records the settings and inputs, and deletes a replaced run."""
        if self._started:
            return
        try:
            atomic_write_json(self.path("flags.json"), flat_settings(self.config))
            atomic_write_json(self.path("inputs.json"), self.inputs)
        except OSError as err:
            raise _unwritable(self.out, err) from None
        shutil.rmtree(self.path(REPLACED), ignore_errors=True)
        self._started = True

    def _acquire(self):
        import fcntl
        try:
            if not os.path.isdir(self.out):
                os.makedirs(self.out)
                self._created = True
            fd = os.open(self.path(LOCK), os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as err:
            raise _unwritable(self.out, err) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = _pid_in(fd)
            os.close(fd)
            raise _in_use(self.out, holder) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._lock = fd

    def _release(self):
        if self._lock is None:
            return
        if self._created and not self._started and self._entries() == [LOCK]:
            os.remove(self.path(LOCK))     # a folder this attempt made and never used: gone again
            with contextlib.suppress(OSError):
                os.rmdir(self.out)
        os.close(self._lock)
        self._lock = None

    def _recover(self):
        """Settles an --overwrite that never finished: if the new run had started (its flags.json is
        written), the old run goes; otherwise the old run moves back."""
        replaced = self.path(REPLACED)
        if not os.path.isdir(replaced):
            return
        if os.path.exists(self.path("flags.json")):
            shutil.rmtree(replaced)
            return
        for name in os.listdir(replaced):
            target = self.path(name)
            if os.path.isdir(target) and not os.path.islink(target):
                shutil.rmtree(target)
            elif os.path.lexists(target):
                os.remove(target)
            os.replace(os.path.join(replaced, name), target)
        os.rmdir(replaced)

    def _set_aside(self):
        replaced = self.path(REPLACED)
        try:
            os.makedirs(replaced, exist_ok=True)
            for name in self._entries():
                if name not in (LOCK, REPLACED):
                    os.replace(self.path(name), os.path.join(replaced, name))
        except OSError as err:
            raise ConfigError(f"Cannot move the old run in {self.out} aside ({err.strerror}); check the "
                              "folder's permissions.") from None


def _unwritable(out, err):
    return ConfigError(f"Cannot write in --output_dir={out} ({err.strerror}); pass a writable folder.")


def _pid_in(fd):
    """The pid a lock holder wrote into the lock file."""
    return os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"


def _in_use(out, holder):
    return ConfigError(f"{out} is in use by another run (pid {holder}); wait for it to finish, or pass another "
                       "--output_dir.")


def _lock_holder(path):
    """The pid written in a lock file some process holds, or None (no file, or nobody holds it)."""
    import fcntl
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return None
    except OSError:
        return _pid_in(fd)
    finally:
        os.close(fd)        # closing drops a shared lock taken here


def current_inputs(config, dataset):
    """The run's inputs: the data's fingerprint (per-class counts, a hash of the selected examples
    and labels; data/fingerprint.py) and the SHA-256 of a given --teacher file (or --teacher_preset
    folder). Paths do not count: a moved dataset or teacher is accepted."""
    from data.fingerprint import dataset_fingerprint, file_sha256, folder_sha256
    preset = config.model.teacher_preset
    teacher = config.run.teacher
    teacher = (file_sha256(teacher) if os.path.isfile(teacher) else None) if teacher else \
        folder_sha256(preset) if preset and os.path.isdir(preset) else preset
    return {"data": dataset_fingerprint(dataset, config.data.data_dir), "teacher": teacher}


def check_inputs(config, dataset, out=None):
    """The run's inputs (`current_inputs`); ConfigError if OUT/inputs.json says it started with others."""
    from data.fingerprint import describe_change
    out = out or config.run.output_dir
    current = current_inputs(config, dataset)
    path = os.path.join(out, "inputs.json")
    if not os.path.exists(path):
        return current
    started = _read_json(path, "delete it to accept the current inputs, or pass --overwrite.")
    change = describe_change(started["data"], current["data"])
    if change:
        raise ConfigError(f"{out} was started on other data: {change}. Resume it with the data it "
                          "started with, or pass --overwrite / another --output_dir to start over.")
    if current["teacher"] is not None and started.get("teacher") != current["teacher"]:
        raise ConfigError(f"{out} was started with another teacher: "
                          f"{config.run.teacher or config.model.teacher_preset} is not the teacher this run "
                          "began with (its SHA-256 differs). Pass that teacher, or "
                          "--overwrite / another --output_dir to start over.")
    return current


def trim_log(path, first_epoch):
    """Drops log.csv lines of epochs >= first_epoch (written, but not backed up, before a kill)."""
    if not os.path.exists(path):
        return
    with open(path) as f:
        lines = f.read().splitlines(keepends=True)
    keep = lines[:1] + [line for line in lines[1:] if line.split(",", 1)[0].strip().isdigit()
                        and int(line.split(",", 1)[0]) < first_epoch]
    if len(keep) != len(lines):
        atomic_write_text(path, "".join(keep))


def test_curve(log_path):
    """The test-accuracy curve of a stage's log.csv (see evaluation.test_curve), or None."""
    if not os.path.exists(log_path):
        return None
    with open(log_path) as f:
        return evaluation.test_curve(list(csv.DictReader(f)))


def read_config(run_dir):
    """The TrainConfig of a run folder, from its flags.json."""
    path = os.path.join(run_dir, "flags.json")
    if not os.path.exists(path):
        raise ConfigError(f"{run_dir} is not a run folder (no flags.json); pass the --output_dir of a run.")
    return TrainConfig.flat(**_read_json(path, "fix or delete the run folder."))


def load_run(run_dir, cache=None):
    """(config, dataset, exported model) of a finished run folder.

    `cache` (a dict) shares the dataset between runs of one data setting (keyed by the
    whole DataConfig, so runs differing in any data setting never share one).
    """
    import keras

    import models  # noqa: F401  (registers the backbones' custom layers)
    from data import load_dataset
    config = read_config(run_dir)
    path = os.path.join(run_dir, "export", "model.keras")
    if not os.path.exists(path):
        raise ConfigError(f"{run_dir} has no export/model.keras; is the run finished?")
    cache = {} if cache is None else cache
    if config.data not in cache:
        cache[config.data] = load_dataset(config.data)
    return config, cache[config.data], keras.saving.load_model(path, compile=False)
