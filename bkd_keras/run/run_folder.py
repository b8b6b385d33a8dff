"""A run folder on disk: checked before anything is read, locked while a run uses it, never
clobbered, and written only once training starts.

OUT/flags.json holds the run's settings by flag name, OUT/inputs.json the fingerprints of its
data and teacher; a finished run also has OUT/results.json and OUT/export/. `RunFolder` is the
life of a folder during one run (see its docstring); `load_run` gives benchmarks and analyses a
finished run's config, data and model.
"""

import contextlib
import os
import shutil

from bkd_keras.run.config import ConfigError, TrainConfig
from bkd_keras.run.io_utils import atomic_write_json
from bkd_keras.run.run_records import check_inputs, current_inputs, flat_settings, read_json_or_fail

# Paths may move between machines: the data and a given teacher are checked by content
# instead (RunFolder.check_inputs). Thread counts and the backup interval say how this machine
# runs the steps, not which steps run: a run continued on another machine picks its own.
IGNORED_ON_RESUME = ("overwrite", "verbose", "output_dir", "data_dir", "teacher", "teacher_hub_preset",
                     "threads", "save_every_steps", "class_groups", "export_litert")
LOCK = ".lock"            # held (flock) by the process using the folder
REPLACED = ".replaced"    # --overwrite: the old run, kept until the new one starts training
# What a run folder may hold before its flags.json exists: files the benchmark runner writes
# first, and the folder's own bookkeeping. Anything else makes it someone else's folder.
RUN_ENTRIES = {"flags.json", "inputs.json", "results.json", "runner_args.json", "code.json", "teacher", "student",
               "export", LOCK, REPLACED}


def _is_worker_folder(name):
    return name.startswith(".worker")      # other workers' folders (OUT/.workerN) are theirs


def _inside(path, folder):
    """True if `path` is `folder` or lies under it (both resolved)."""
    path, folder = os.path.realpath(path), os.path.realpath(folder)
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


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
        previous = {**flat_settings(TrainConfig()), **read_json_or_fail(self.path("flags.json"), fix)}
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
