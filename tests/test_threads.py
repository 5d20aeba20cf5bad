"""Thread policy: every call (and every batch) uses the cores other processes leave free."""

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from skimage import data

from fer_toolkit.detection import MTCNN
from fer_toolkit.estimators import CNNClassifier
from fer_toolkit.utils import threads


@pytest.fixture
def machine(monkeypatch):
    """Pretend the process has ``cpus`` cores, of which other processes keep ``others``
    cores' worth busy (None: not measurable)."""

    def set_state(cpus, others):
        monkeypatch.setattr(threads, "_cpus", lambda: cpus)
        monkeypatch.setattr(threads, "_quota_group", lambda: None)
        monkeypatch.setattr(threads, "_other_processes_cores", lambda: others)
        monkeypatch.setattr(threads, "_group_others", lambda group: None)
        monkeypatch.setattr(threads, "_cache", None)

    monkeypatch.delenv(threads.ENV_VAR, raising=False)
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    return set_state


@pytest.fixture
def two_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def test_importing_fer_toolkit_leaves_openmp_settings_alone():
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "KMP_BLOCKTIME")}
    code = (
        "import os, fer_toolkit.estimators; "
        "print(os.environ.get('OMP_WAIT_POLICY'), os.environ.get('KMP_BLOCKTIME'))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["None", "None"]


@pytest.mark.parametrize(
    ("cpus", "others", "free"),
    [
        (2, 0.0, 2),
        (2, 0.3, 2),  # a task that woke now and then: not a busy core
        (2, 0.6, 1),
        (2, 1.4, 1),
        (2, 3.0, 1),  # at least one
        (8, 2.6, 5),
        (4, None, 4),  # not measurable: every core
    ],
)
def test_free_cpus_leaves_the_cores_other_processes_use(machine, cpus, others, free):
    machine(cpus, others)
    assert threads.free_cpus() == free


def test_free_cpus_keeps_its_last_answer_when_the_window_is_too_short(machine, monkeypatch):
    monkeypatch.setattr(threads, "_CACHE_SECONDS", 0.0)
    machine(2, 1.5)
    assert threads.free_cpus() == 1
    monkeypatch.setattr(threads, "_other_processes_cores", lambda: None)
    assert threads.free_cpus() == 1


@pytest.fixture
def cgroups(tmp_path, monkeypatch):
    """A fake ``/proc/self/cgroup`` and ``/sys/fs/cgroup``: ``groups`` is the former's text,
    ``files`` maps paths under the latter to their contents."""

    def make(groups, files):
        (tmp_path / "proc_cgroup").write_text(groups)
        for name, text in files.items():
            path = tmp_path / "sys" / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        (tmp_path / "sys").mkdir(exist_ok=True)
        monkeypatch.setattr(threads, "_PROC_CGROUP", str(tmp_path / "proc_cgroup"))
        monkeypatch.setattr(threads, "_CGROUP_ROOT", str(tmp_path / "sys"))

    return make


def _quota():
    """The CPU quota the control groups set (cores' worth), or None."""
    group = threads._quota_group()
    return None if group is None else group[0]


#: A limited group as :func:`threads._quota_group` gives it, for patched readings.
_GROUP = (2.0, "cpu.stat")


@pytest.mark.parametrize(
    ("groups", "files", "quota"),
    [
        # cgroup v2 inside a container: its own group is the root of the mount.
        ("0::/\n", {"cpu.max": "150000 100000\n"}, 1.5),
        ("0::/\n", {"cpu.max": "max 100000\n"}, None),
        ("0::/\n", {}, None),  # the host's root group has no cpu.max
        # Nested groups: the smallest limit on the way up counts.
        ("0::/a/b\n", {"a/cpu.max": "200000 100000", "a/b/cpu.max": "max 100000"}, 2.0),
        ("0::/a/b\n", {"a/cpu.max": "400000 100000", "a/b/cpu.max": "50000 100000"}, 0.5),
        # A group path the container cannot see: its mount root is its group.
        ("0::/docker/1f2e\n", {"cpu.max": "100000 100000"}, 1.0),
        # cgroup v1, the cpu controller (mounted with cpuacct on most systems).
        (
            "4:cpu,cpuacct:/\n1:name=systemd:/\n",
            {"cpu/cpu.cfs_quota_us": "250000", "cpu/cpu.cfs_period_us": "100000"},
            2.5,
        ),
        ("1:cpu:/\n", {"cpu/cpu.cfs_quota_us": "-1", "cpu/cpu.cfs_period_us": "100000"}, None),
        # Mounted under the controllers' names only, in a nested group.
        (
            "4:cpu,cpuacct:/job\n",
            {
                "cpu,cpuacct/cpu.cfs_quota_us": "-1",
                "cpu,cpuacct/cpu.cfs_period_us": "100000",
                "cpu,cpuacct/job/cpu.cfs_quota_us": "50000",
                "cpu,cpuacct/job/cpu.cfs_period_us": "100000",
            },
            0.5,
        ),
        (
            "1:cpuset:/\n",
            {"cpu/cpu.cfs_quota_us": "100000", "cpu/cpu.cfs_period_us": "100000"},
            None,
        ),
        # Unreadable contents are no limit, not an error.
        ("0::/\n", {"cpu.max": "lots\n"}, None),
        ("0::/\n", {"cpu.max": ""}, None),
    ],
)
def test_cpu_quota_reads_the_control_group(cgroups, groups, files, quota):
    cgroups(groups, files)
    assert _quota() == (None if quota is None else pytest.approx(quota))


#: Text without spaces or control characters: one field of ``cpu.max``.
_words = st.text(st.characters(exclude_categories=("Z", "C")), min_size=1, max_size=8)


@settings(max_examples=60, deadline=None)
@given(
    quota=st.one_of(st.just("max"), st.integers(-5, 10**7).map(str), _words),
    period=st.one_of(st.integers(-5, 10**7).map(str), _words),
    path=st.lists(st.sampled_from(["a", "b", "..", ".", "c d"]), max_size=4).map("/".join),
)
def test_cpu_quota_never_fails_on_odd_files(tmp_path_factory, quota, period, path):
    root = tmp_path_factory.mktemp("cg")
    (root / "sys").mkdir()
    (root / "sys" / "cpu.max").write_text(f"{quota} {period}")
    (root / "groups").write_text(f"0::/{path}\n")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(threads, "_PROC_CGROUP", str(root / "groups"))
        mp.setattr(threads, "_CGROUP_ROOT", str(root / "sys"))
        found = _quota()
    numbers = quota.isdecimal() and period.isdecimal() and int(quota) > 0 and int(period) > 0
    assert found == (pytest.approx(int(quota) / int(period)) if numbers else None)


@pytest.fixture
def real_cpu_quota_group(request):
    """The folders of a real control group limited to 1 CPU, or to the CPUs
    ``request.param`` says (cgroup v2; else v1's cpu controller, and the cpuacct one where
    it is mounted apart, as container runtimes do), or a skip where this process may not
    create one (not root, read-only /sys/fs/cgroup)."""
    name = f"fer_toolkit_test_{os.getpid()}"
    quota = str(int(getattr(request, "param", 1) * 100000))
    v2 = Path("/sys/fs/cgroup/cgroup.controllers")
    if v2.exists() and "cpu" in v2.read_text().split():
        folders, files = [f"/sys/fs/cgroup/{name}"], {"cpu.max": f"{quota} 100000"}
    else:
        folders = [f"/sys/fs/cgroup/cpu/{name}"]
        if not os.path.exists("/sys/fs/cgroup/cpu/cpuacct.usage"):
            folders.append(f"/sys/fs/cgroup/cpuacct/{name}")
        files = {"cpu.cfs_period_us": "100000", "cpu.cfs_quota_us": quota}
    made = []
    try:
        try:
            for folder in folders:
                os.mkdir(folder)
                made.append(folder)
        except OSError as error:
            pytest.skip(f"cannot create a control group here: {error}")
        try:
            for file, text in files.items():
                with open(os.path.join(folders[0], file), "w") as f:
                    f.write(text)
        except OSError as error:  # e.g. v2 without the cpu controller delegated
            pytest.skip(f"cannot limit a control group's CPU here: {error}")
        yield folders
    finally:
        for folder in made:
            os.rmdir(folder)


def test_a_real_cpu_quota_limits_the_threads(real_cpu_quota_group):
    code = (
        "import time; from fer_toolkit.utils import threads; time.sleep(0.2); "
        "print(threads._quota_group()[0], threads.free_cpus(), "
        "threads.resolve_num_threads(current=64, work='large'))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        preexec_fn=_join(real_cpu_quota_group),
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.split() == ["1.0", "1", "1"]


def _join(folders):
    """A ``preexec_fn`` that moves the new process into the control group's ``folders``."""

    def join():
        for folder in folders:
            with open(os.path.join(folder, "cgroup.procs"), "w") as f:
                f.write(str(os.getpid()))

    return join


@pytest.mark.parametrize("real_cpu_quota_group", [2], indirect=True)
@pytest.mark.parametrize(("busy", "expected"), [(False, "2 2"), (True, "1 1")])
def test_other_processes_of_the_group_take_their_share_of_the_quota(
    real_cpu_quota_group, busy, expected
):
    # /proc/stat left out: on a host with more cores than the quota, the free cores
    # would not show the busy processes of the same container.
    code = (
        "import time; from fer_toolkit.utils import threads; "
        "threads._cores_busy_seconds = lambda: None; time.sleep(0.6); "
        "print(threads.free_cpus(), threads.free_cpus('large'))"
    )
    join = _join(real_cpu_quota_group)
    # Two, so that their share stays over half a core when the test's own machine is busy.
    others = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"], preexec_fn=join)
        for _ in range(2 if busy else 0)
    ]
    try:
        time.sleep(0.3)
        out = subprocess.run(
            [sys.executable, "-c", code], preexec_fn=join, capture_output=True, text=True
        )
    finally:
        for other in others:
            other.kill()
            other.wait()
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == expected


@pytest.mark.parametrize(
    ("groups", "files", "seconds"),
    [
        (
            "0::/\n",
            {"cpu.max": "200000 100000", "cpu.stat": "usage_usec 2500000\nuser_usec 1"},
            2.5,
        ),
        ("0::/\n", {"cpu.max": "200000 100000", "cpu.stat": "user_usec 1\n"}, None),
        ("0::/\n", {"cpu.max": "200000 100000"}, None),
        ("0::/\n", {"cpu.max": "max 100000", "cpu.stat": "usage_usec 2500000"}, None),  # no limit
        (
            "4:cpu,cpuacct:/job\n",
            {
                "cpu,cpuacct/job/cpu.cfs_quota_us": "50000",
                "cpu,cpuacct/job/cpu.cfs_period_us": "100000",
                "cpu,cpuacct/job/cpuacct.usage": "1500000000\n",
            },
            1.5,
        ),
        # cpuacct mounted apart: the same group in its hierarchy.
        (
            "2:cpuacct:/job\n1:cpu:/job\n",
            {
                "cpu/job/cpu.cfs_quota_us": "50000",
                "cpu/job/cpu.cfs_period_us": "100000",
                "cpuacct/job/cpuacct.usage": "3000000000",
            },
            3.0,
        ),
        (
            "4:cpu,cpuacct:/\n",
            {
                "cpu/cpu.cfs_quota_us": "50000",
                "cpu/cpu.cfs_period_us": "100000",
                "cpu/cpuacct.usage": "many",
            },
            None,
        ),
    ],
)
def test_group_reading_is_the_limited_group_s_cpu_time(cgroups, groups, files, seconds):
    cgroups(groups, files)
    reading = threads._group_reading(threads._quota_group())
    assert (None if reading is None else reading[2]) == seconds


def test_group_others_leaves_out_this_process(monkeypatch):
    # (wall seconds, group, the group's CPU seconds, this process's CPU seconds)
    readings = iter(
        [
            (10.0, "g", 100.0, 5.0),
            (10.5, "g", 101.0, 5.5),
            (10.55, "g", 101.1, 5.5),
            (11.0, "g", 101.4, 5.6),
            (11.5, "h", 200.0, 5.6),
            (12.0, "h", 200.5, 5.6),
        ]
    )
    monkeypatch.setattr(threads, "_last_group_reading", next(readings))
    monkeypatch.setattr(threads, "_group_reading", lambda group: next(readings))
    # 1.0 s of the group's CPU time in 0.5 s, 0.5 s of it this process's.
    assert threads._group_others(_GROUP) == pytest.approx(1.0)
    assert threads._group_others(_GROUP) is None  # 0.05 s: too short, the window runs on
    # From 10.5 s: 0.4 s of the group's time in 0.5 s, 0.1 s this process's.
    assert threads._group_others(_GROUP) == pytest.approx(0.6)
    assert threads._group_others(_GROUP) is None  # another group: a new window starts
    assert threads._group_others(_GROUP) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("quota", "in_group", "small", "large"),
    [
        (2.0, 1.0, 1, 1),  # GridSearchCV(n_jobs=2) in a 2-CPU container: one each
        (4.0, 1.0, 3, 3),
        (2.0, 0.4, 2, 2),  # less than half a core: not a core taken
        (2.5, 0.6, 1, 2),
        (2.0, 3.0, 1, 1),  # at least one
        (2.0, None, 2, 2),  # not measured (yet): the whole quota
    ],
)
def test_free_cpus_leaves_the_quota_other_processes_of_the_group_use(
    machine, monkeypatch, quota, in_group, small, large
):
    machine(8, 0.0)
    monkeypatch.setattr(threads, "_quota_group", lambda: (quota, "cpu.stat"))
    monkeypatch.setattr(threads, "_group_others", lambda group: in_group)
    assert threads.free_cpus() == small
    monkeypatch.setattr(threads, "_cache", None)
    assert threads.free_cpus("large") == large
    # OpenMP threads that sleep keep the whole quota for large work.
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")
    assert threads.resolve_num_threads(current=8, work="large") == min(8, int(quota + 0.5))


def test_cpu_quota_without_control_groups(monkeypatch, tmp_path):
    monkeypatch.setattr(threads, "_PROC_CGROUP", str(tmp_path / "missing"))
    assert _quota() is None


def test_this_machine_quota_is_none_or_positive():
    quota = _quota()
    assert quota is None or quota > 0


@pytest.mark.parametrize(
    ("cpus", "quota", "others", "small", "large"),
    [
        (8, 2.0, 0.0, 2, 2),  # docker --cpus 2 on an 8-core host: 2 threads, not 8
        (8, 2.4, 0.0, 2, 2),
        (8, 1.5, 0.0, 1, 2),  # small kernels round down, large ones to the nearest core
        (8, 2.5, 7.0, 1, 1),  # the host is busy: fewer still
        (8, 0.3, 0.0, 1, 1),  # at least one
        (2, 16.0, 0.0, 2, 2),  # a quota above the affinity changes nothing
        (8, 4.0, None, 4, 4),  # /proc/stat unreadable: the quota still holds
    ],
)
def test_free_cpus_honours_the_cpu_quota(machine, monkeypatch, cpus, quota, others, small, large):
    machine(cpus, others)
    monkeypatch.setattr(threads, "_quota_group", lambda: (quota, "cpu.stat"))
    assert threads.free_cpus() == threads.free_cpus("small") == small
    assert threads.free_cpus("large") == large
    assert threads.resolve_num_threads(current=cpus) == small
    assert threads.resolve_num_threads(current=cpus, work="large") == large
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")
    expected = min(cpus, max(1, int(quota + 0.5)))
    assert threads.resolve_num_threads(current=cpus, work="large") == expected


@pytest.mark.parametrize(
    ("cpus", "quota", "others", "expected"),
    [
        (2, None, 2.0, 2),  # both cores busy elsewhere: sleeping threads keep them
        (8, None, 7.0, 8),
        (8, 2.5, 7.0, 2),  # the quota still holds (small work rounds it down)
        (8, None, None, 8),
    ],
)
def test_passive_pools_keep_the_cores_other_processes_use(
    machine, monkeypatch, cpus, quota, others, expected
):
    machine(cpus, others)
    if quota is not None:
        monkeypatch.setattr(threads, "_quota_group", lambda: (quota, "cpu.stat"))
    assert threads.resolve_num_threads(current=cpus, passive=True) == expected
    assert threads.resolve_num_threads(current=1, passive=True) == 1  # at most current
    counts = []
    pool = (lambda: counts[-1] if counts else cpus, counts.append)
    with threads.limit_threads(pool=pool, passive=True) as used:
        assert used == expected
        assert threads.refresh_threads() == expected
    with threads.limit_threads(pool=pool) as used:  # spinning pools leave busy cores
        assert used == (max(1, cpus - int((others or 0) + 0.5)) if quota is None else 1)


def test_free_cpus_refuses_unknown_work():
    with pytest.raises(ValueError, match="work must be one of"):
        threads.free_cpus("huge")


def test_other_processes_cores_leaves_out_this_process(monkeypatch):
    # (wall seconds, busy seconds of the process's cores, this process's CPU seconds)
    readings = iter(
        [(10.0, 100.0, 5.0), (10.5, 101.0, 5.9), (10.55, 101.1, 6.0), (11.0, 101.5, 6.0)]
    )
    monkeypatch.setattr(threads, "_last_reading", next(readings))
    monkeypatch.setattr(threads, "_reading", lambda: next(readings))
    # 1.0 s busy in 0.5 s, 0.9 s of it this process's (its spinning threads included).
    assert threads._other_processes_cores() == pytest.approx(0.2)
    assert threads._other_processes_cores() is None  # 0.05 s: a few kernel ticks
    # The window then runs on from the last measurement: 0.5 s busy in 0.5 s, 0.1 s ours.
    assert threads._other_processes_cores() == pytest.approx(0.8)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork")
def test_a_forked_child_measures_from_the_fork():
    # Its own CPU time starts again from 0: measured from the parent's readings, the
    # parent's CPU time counted as other processes' (8 cores' worth on 2 cores, measured).
    start = time.process_time()
    while time.process_time() - start < 1.0:  # the parent has worked
        pass
    threads._other_processes_cores()  # and measured: a window starts with its CPU time
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            time.sleep(0.2)
            own_at_start = threads._last_reading[2]
            others = threads._other_processes_cores()
            os.write(write, f"{own_at_start} {others}".encode())
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    own_at_start, others = map(float, os.read(read, 100).split())
    assert own_at_start < 0.5
    assert others <= threads._cpus()


def test_cores_busy_seconds_reads_the_kernel():
    assert 1 <= threads.free_cpus() <= os.cpu_count()
    before = threads._cores_busy_seconds()
    start = time.process_time()
    while time.process_time() - start < 0.3:  # this process keeps a core busy
        pass
    assert threads._cores_busy_seconds() - before >= 0.2


def test_a_busy_process_takes_a_core():
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)
        threads._other_processes_cores()  # the window starts now, with the process running
        time.sleep(0.5)
        assert threads._other_processes_cores() >= 0.5
    finally:
        busy.kill()
        busy.wait()


@pytest.mark.parametrize(
    ("others", "current", "expected"), [(0.0, 2, 2), (2.0, 2, 1), (0.0, 1, 1), (0.0, 4, 2)]
)
def test_auto_uses_at_most_the_current_count_and_the_free_cores(machine, others, current, expected):
    machine(2, others)
    assert threads.resolve_num_threads(current=current) == expected


@pytest.mark.parametrize(
    ("cpus", "others", "current", "free", "passive_large"),
    [
        (2, 0.0, 2, 2, 2),  # quiet: every core
        (2, 2.0, 2, 1, 2),  # 2 busy processes: the free core only
        (2, 8.0, 2, 1, 2),
        (2, 8.0, 1, 1, 1),  # never more than PyTorch's count (joblib's workers: 1)
        (2, 0.0, 4, 2, 2),  # nor more cores than the process has
        (8, 4.0, 8, 4, 8),
        (4, None, 4, 4, 4),  # no /proc/stat
    ],
)
def test_count_per_kind_of_work(monkeypatch, machine, cpus, others, current, free, passive_large):
    machine(cpus, others)
    for work in threads.WORKLOADS:
        assert threads.resolve_num_threads(current=current, work=work) == free
    assert threads.resolve_num_threads(current=current) == free  # "small", the default
    # Sleeping OpenMP threads: a second thread still gains on a busy core for CNN work.
    monkeypatch.setenv("OMP_WAIT_POLICY", "passive")
    assert threads.resolve_num_threads(current=current, work="large") == passive_large
    assert threads.resolve_num_threads(current=current, work="small") == free


@pytest.mark.parametrize("work", threads.WORKLOADS)
def test_explicit_count_and_environment_win_for_every_kind(machine, monkeypatch, work):
    machine(2, 4.0)
    assert threads.resolve_num_threads(1, current=2, work=work) == 1
    assert threads.resolve_num_threads(3, current=2, work=work) == 3
    monkeypatch.setenv(threads.ENV_VAR, "1")
    assert threads.resolve_num_threads(current=2, work=work) == 1
    with threads.limit_threads(work=work) as used:
        assert used == torch.get_num_threads() == 1


def test_unknown_work_is_refused():
    with pytest.raises(ValueError, match=r"work must be one of.*'medium'"):
        threads.resolve_num_threads(current=2, work="medium")


def test_explicit_count_and_environment_win(machine, monkeypatch):
    machine(2, 4.0)
    assert threads.resolve_num_threads(3, current=2) == 3
    monkeypatch.setenv(threads.ENV_VAR, "2")
    assert threads.resolve_num_threads(current=1) == 2
    monkeypatch.setenv(threads.ENV_VAR, "auto")
    assert threads.resolve_num_threads(current=2) == 1


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5"])
def test_bad_environment_value_is_named(monkeypatch, value):
    monkeypatch.setenv(threads.ENV_VAR, value)
    with pytest.raises(ValueError, match=f"FER_TOOLKIT_NUM_THREADS.*{value!r}"):
        threads.resolve_num_threads(current=2)


@pytest.mark.parametrize("value", [0, 1.0, True, "2"])
def test_bad_explicit_count(value):
    with pytest.raises(ValueError, match="n_threads must be an int >= 1"):
        threads.resolve_num_threads(value, current=2)


def test_limit_threads_restores_the_count(machine, two_threads):
    machine(2, 3.0)
    with threads.limit_threads() as used:
        assert used == torch.get_num_threads() == 1
    assert torch.get_num_threads() == 2
    with pytest.raises(RuntimeError), threads.limit_threads(1):
        raise RuntimeError
    assert torch.get_num_threads() == 2
    torch.set_num_threads(1)
    with threads.limit_threads(2, work="large") as used:
        assert used == torch.get_num_threads() == 2
    assert torch.get_num_threads() == 1


def test_refresh_threads_follows_the_load_inside_a_block(machine, two_threads, monkeypatch):
    monkeypatch.setattr(threads, "_CACHE_SECONDS", 0.0)
    assert threads.refresh_threads() is None  # outside any block: nothing to do
    assert torch.get_num_threads() == 2
    machine(2, 0.0)
    with threads.limit_threads(work="large") as used:
        assert used == 2
        machine(2, 2.0)  # two other processes start
        assert threads.refresh_threads() == torch.get_num_threads() == 1
        machine(2, 0.1)  # they stop
        assert threads.refresh_threads() == torch.get_num_threads() == 2
        with threads.limit_threads(1):  # the innermost block rules
            machine(2, 0.0)
            assert threads.refresh_threads() == torch.get_num_threads() == 1
        assert torch.get_num_threads() == 2
        machine(2, 4.0)
        threads.refresh_threads()
    assert torch.get_num_threads() == 2  # the count before the block, whatever happened in it


def test_refresh_threads_keeps_a_fixed_count(machine, two_threads, monkeypatch):
    monkeypatch.setattr(threads, "_CACHE_SECONDS", 0.0)
    machine(2, 4.0)
    with threads.limit_threads(2):
        assert threads.refresh_threads() == 2
    monkeypatch.setenv(threads.ENV_VAR, "2")
    with threads.limit_threads(work="large"):
        assert threads.refresh_threads() == torch.get_num_threads() == 2


def _threads_seen(module):
    seen = []
    module.register_forward_hook(lambda *args: seen.append(torch.get_num_threads()))
    return seen


@pytest.mark.parametrize(("others", "expected"), [(0.0, 2), (3.0, 1)])
def test_mtcnn_detects_with_the_free_cores(machine, two_threads, others, expected):
    machine(2, others)
    detector = MTCNN(device="cpu")
    seen = _threads_seen(detector._networks().pnet)
    assert len(detector.detect(data.astronaut()[::2, ::2])) == 1
    assert set(seen) == {expected}
    assert torch.get_num_threads() == 2


def _threads_per_forward_pass():
    seen = []
    hook = torch.nn.modules.module.register_module_forward_hook(
        lambda module, *args: seen.append(torch.get_num_threads()) if not module._modules else None
    )
    return seen, hook


@pytest.mark.parametrize(
    ("others", "passive", "expected"),
    [(0.0, False, 2), (2.0, False, 1), (8.0, False, 1), (8.0, True, 2)],
)
def test_cnn_trains_and_predicts_on_the_free_cores(
    machine, monkeypatch, two_threads, others, passive, expected
):
    machine(2, others)
    if passive:
        monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, size=(16, 48, 48), dtype=np.uint8)
    y = np.array(["happy", "sad"] * 8)
    clf = CNNClassifier(max_epochs=1, batch_size=8, device="cpu", random_state=0)
    seen, hook = _threads_per_forward_pass()
    try:
        clf.fit(X, y)
        trained = len(seen)
        clf.predict(X[:4])
    finally:
        hook.remove()
    assert 0 < trained < len(seen) and set(seen) == {expected}
    assert torch.get_num_threads() == 2


def test_cnn_fit_and_predict_follow_the_load_batch_by_batch(machine, monkeypatch, two_threads):
    """Other processes start after the first batch: the next batches drop to the free core."""
    monkeypatch.setattr(threads, "_CACHE_SECONDS", 0.0)
    machine(2, 0.0)
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, size=(40, 48, 48), dtype=np.uint8)
    y = np.array(["happy", "sad"] * 20)
    clf = CNNClassifier(
        max_epochs=1, batch_size=8, validation_fraction=None, device="cpu", random_state=0
    )
    per_batch = []

    class LoadStarts:
        def __init__(self):
            self.batches = 0

        def __call__(self, module, inputs, output):
            per_batch.append(torch.get_num_threads())
            self.batches += 1
            machine(2, 0.0 if self.batches < 2 else 2.0)

    clf.fit(X[:8], y[:8])  # builds the module
    load = LoadStarts()
    handle = clf.module_.register_forward_hook(load)
    try:
        clf.partial_fit(X, y)
        # The count is chosen before each batch (then the pass that recomputes the
        # batch-norm statistics runs under the same load).
        assert per_batch[:5] == [2, 2, 1, 1, 1] and set(per_batch[5:]) == {1}
        per_batch.clear()
        load.batches = 0
        machine(2, 0.0)
        clf.predict(X)  # 5 batches: quiet for the first two, then busy
        assert per_batch == [2, 2, 1, 1, 1]
    finally:
        handle.remove()
    assert torch.get_num_threads() == 2


def test_a_fixed_count_gives_the_same_seeded_fit_whatever_the_load(
    machine, monkeypatch, two_threads
):
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, size=(24, 48, 48), dtype=np.uint8)
    y = np.array(["happy", "sad", "angry"] * 8)
    probas = []
    for others in (0.0, 4.0):
        machine(2, others)
        monkeypatch.setenv(threads.ENV_VAR, "2")
        clf = CNNClassifier(max_epochs=1, batch_size=8, device="cpu", random_state=0)
        probas.append(clf.fit(X, y).predict_proba(X))
    np.testing.assert_array_equal(probas[0], probas[1])


def _cascade_recipe(folder):
    """12x12 lfw faces; backgrounds: 32x32 tiles of four face-free skimage photos at half
    size (small images, so that a stage mines them in several batches)."""
    import cv2

    from fer_toolkit.cascade import write_bg, write_vec

    faces = (data.lfw_subset()[:100] * 255).round().astype(np.uint8)
    small = [cv2.resize(f, (12, 12), interpolation=cv2.INTER_AREA) for f in faces]
    write_vec(folder / "pos.vec", small)
    paths = []
    for name in ("coffee", "rocket", "coins", "grass"):
        image = getattr(data, name)()
        if image.ndim == 3:
            image = cv2.cvtColor(image[..., :3], cv2.COLOR_RGB2GRAY)
        image = image[::2, ::2]
        for y in range(0, image.shape[0] - 31, 32):
            for x in range(0, image.shape[1] - 31, 32):
                paths.append(folder / f"{name}_{y}_{x}.png")
                cv2.imwrite(str(paths[-1]), image[y : y + 32, x : x + 32])
    write_bg(folder / "bg.txt", paths)
    return folder / "pos.vec", folder / "bg.txt"


def test_cascade_trainer_follows_the_load_batch_by_batch(machine, monkeypatch, tmp_path):
    """The process's CPU quota drops to one core during stage 1's mining (other processes
    busy too): from its next batch on, the compiled loops run on one thread; the cascade
    is the one a fixed single thread trains. (Other processes' load alone changes
    nothing: the loops' threads sleep between parts, see test_cascade_native.py.)"""
    from fer_toolkit.cascade import _native, negatives, train, train_cascade

    if _native.MAX_THREADS < 2:
        pytest.skip("this process may use a single CPU")
    monkeypatch.setattr(threads, "_CACHE_SECONDS", 0.0)
    monkeypatch.setattr(negatives, "_BATCH", 64)  # several mining batches per stage
    vec, bg = _cascade_recipe(tmp_path)
    recipe = dict(vec=vec, bg=bg, num_pos=70, num_neg=80, num_stages=6, width=12, height=12)
    seen = []
    accepted = negatives._Batch.accepted

    def mining_batch(batch, cascade, keep, n_threads):
        seen.append(("mine", n_threads))
        if len(cascade.stages) == 1 and ("load", 2) not in seen:
            seen.append(("load", 2))
            machine(2, 2.0)  # during stage 1's first batch: busy cores, and a quota of 1
            monkeypatch.setattr(threads, "_quota_group", lambda: (1.0, "cpu.max"))
        return accepted(batch, cascade, keep, n_threads)

    boost_stage = train.boost_stage

    def boosting(*args, **kwargs):
        seen.append(("boost", _native.get_num_threads()))
        return boost_stage(*args, **kwargs)

    machine(2, 0.0)
    monkeypatch.setattr(negatives._Batch, "accepted", mining_batch)
    monkeypatch.setattr(train, "boost_stage", boosting)
    before = _native.get_num_threads()
    adaptive = train_cascade(tmp_path / "adaptive", progress=None, **recipe)
    assert _native.get_num_threads() == before
    assert len(adaptive.stages) >= 3
    load = seen.index(("load", 2))
    # Stage 0 mined and boosted on 2 threads, stage 1's first batch too, then 1 thread.
    assert seen[load - 2 : load] == [("boost", 2), ("mine", 2)]
    assert {count for _, count in seen[:load]} == {2}
    assert {count for _, count in seen[load + 1 :]} == {1}
    assert seen[load + 1] == ("mine", 1)  # stage 1's second batch: no new stage between
    monkeypatch.undo()
    monkeypatch.setattr(negatives, "_BATCH", 64)
    train_cascade(tmp_path / "fixed", progress=None, num_threads=1, **recipe)
    xml = [(tmp_path / f / "cascade.xml").read_bytes() for f in ("adaptive", "fixed")]
    assert xml[0] == xml[1]
