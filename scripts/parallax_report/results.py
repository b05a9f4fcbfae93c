"""Reading a Parallax results file: runs, sweeps and their tables, with one clear error for a
file that is not one."""
import json
import os

import h5py
import numpy as np


class ReportError(Exception):
    """Bad input: reported as one line, exit status 2."""


def plan_name(attrs):
    name = f"t{int(attrs['tp'])}p{int(attrs['pp'])}d{int(attrs['dp'])}m{int(attrs['micro_batch'])}"
    return name + (f"v{int(attrs['vpp'])}" if int(attrs.get("vpp", 1)) > 1 else "")


# The attributes the figures read from a run: numbers, the first ones required.
REQUIRED_NUMBERS = ("tp", "pp", "dp", "micro_batch")
OPTIONAL_NUMBERS = ("vpp", "cp", "ep", "global_batch", "world_size", "predicted_iteration_time_s")


def is_number(value):
    return isinstance(value, (int, float, np.integer, np.floating)) and np.isfinite(value)


class Run:
    def __init__(self, run_id, group):
        self.id = run_id
        self.attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in group.attrs.items()}
        for key in REQUIRED_NUMBERS + OPTIONAL_NUMBERS:
            value = self.attrs.get(key)
            if (value is not None or key in REQUIRED_NUMBERS) and not is_number(value):
                raise ReportError(f"run {run_id}: attribute {key} is missing or not a number ({value!r})")
        self.kind = self.attrs.get("kind", "?")
        self.config = json.loads(self.attrs.get("config_json", "{}"))
        self.tables = {name: group[name][:] for name in group if isinstance(group[name], h5py.Dataset)}

    @property
    def plan(self):
        return plan_name(self.attrs)

    @property
    def model(self):
        return self.config.get("model", {}).get("name", self.attrs.get("model", "?"))

    @property
    def system(self):
        return self.attrs.get("system", "?")

    @property
    def world_size(self):
        return int(self.attrs.get("world_size", 1))

    def title(self):
        return f"{self.model} on {self.world_size} x {self.system}, {self.plan}"

    def measured_iteration_time(self):
        it = self.tables.get("iterations")
        if it is None or len(it) == 0:
            return None
        times = it["iteration_time_s"]
        return float(np.median(times[1:] if len(times) > 1 else times))  # the first step warms up


class Sweep:
    def __init__(self, sweep_id, group):
        self.id = sweep_id
        self.attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in group.attrs.items()}
        self.config = json.loads(self.attrs.get("config_json", "{}"))
        self.configs = group["configs"][:] if "configs" in group else None

    def title(self):
        return f"{self.attrs.get('model', '?')} on {self.attrs.get('system', '?')}"


def load(path):
    if os.path.isdir(path):
        raise ReportError(f"{path} is a directory, not a results file")
    if not os.path.exists(path):
        raise ReportError(f"{path}: no such file")
    try:
        f = h5py.File(path, "r")
    except (OSError, ValueError) as e:
        reason = " ".join(str(e).split())  # HDF5's messages can span lines; the error is one
        raise ReportError(f"{path}: not an HDF5 file ({reason})")
    with f:
        schema = f.attrs.get("schema")
        if isinstance(schema, bytes):
            schema = schema.decode()
        if schema != "parallax-results":
            raise ReportError(f"{path}: not a Parallax results file (no schema = \"parallax-results\")")
        version = f.attrs.get("schema_version")  # absent: written before the attribute existed
        if version is not None and version != 1:
            raise ReportError(f"{path}: schema_version {version}: this report reads version 1")
        try:  # what HDF5 cannot read in a damaged file, h5py raises as KeyError, ValueError or OSError
            runs = [Run(r, f["runs"][r]) for r in f["runs"]] if "runs" in f else []
            sweeps = [Sweep(s, f["sweeps"][s]) for s in f["sweeps"]] if "sweeps" in f else []
        except (KeyError, ValueError, OSError, TypeError, RuntimeError) as e:
            reason = " ".join(str(e).split())
            raise ReportError(f"{path}: damaged, cannot read its runs ({reason})")
    return runs, sweeps


def decode(column):
    return [x.decode() if isinstance(x, bytes) else x for x in column]
