"""The stat stand-in answers as macOS's BSD stat does, run directly on files made here (no lab).

Each file has its own owner, group, mode and type; the expected answers come
from os.lstat/os.stat of the same file and the accounts database, laid out as
stat(1) of macOS (file_cmds) lays them out. pyinfra's File facts and
testinfra's DarwinFile then read the files through the stand-in, as they read
a Mac. Needs root (to give the files their owners).
"""

from __future__ import annotations

import datetime
import grp
import os
import pwd
import stat
import subprocess
import time
from pathlib import Path

import pytest
import testinfra
from pyinfra.facts.files import Directory, File, Link
from testinfra.modules.file import DarwinFile

STAT = Path(__file__).resolve().parents[2] / "lab" / "standins" / "stat"
USAGE = "usage: stat [-FLnq] [-f format | -l | -r | -s | -x] [-t timefmt] [file ...]\n"
NAMELESS_ID = 48611  # no account and no group has it: BSD stat shows "(48611)"
MTIME_NS = 1_700_000_000_123_456_789
MTIME_S, MTIME_FRACTION = divmod(MTIME_NS, 10**9)
# name: (kind, mode, uid, gid)
FILES = {
    "plain": ("file", 0o644, 0, 0),
    "setuid-tool": ("file", 0o4755, 1, 1),
    "nameless": ("file", 0o044, NAMELESS_ID, NAMELESS_ID),
    "shared": ("directory", 0o1777, 65534, 65534),
    "pipe": ("fifo", 0o640, 1, 0),
    "link": ("link", 0o777, 0, 0),
}
TYPE_NAMES = {stat.S_IFREG: "Regular File", stat.S_IFDIR: "Directory", stat.S_IFLNK: "Symbolic Link",
              stat.S_IFIFO: "Fifo File"}  # fmt: skip


def run_stat(*args: str, stdin=subprocess.DEVNULL) -> subprocess.CompletedProcess:
    return subprocess.run(["/usr/bin/python3", str(STAT), *args], stdin=stdin, capture_output=True, text=True,
                          timeout=30, check=False)  # fmt: skip


def user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"({uid})"


def utc(seconds: int) -> datetime.datetime:
    """How pyinfra's File fact gives a time: naive, in UTC."""
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC).replace(tzinfo=None)


def group_name(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return f"({gid})"


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    if os.geteuid() != 0:
        pytest.skip("giving files other owners needs root")
    folder = tmp_path_factory.mktemp("stat")
    made = {}
    for name, (kind, mode, uid, gid) in FILES.items():
        path = folder / name
        if kind == "file":
            path.write_bytes(b"x" * len(name) * 100)
        elif kind == "directory":
            path.mkdir()
        elif kind == "fifo":
            os.mkfifo(path)
        else:
            path.symlink_to("plain")
        os.chown(path, uid, gid, follow_symlinks=False)
        if kind != "link":
            os.chmod(path, mode)  # after chown, which clears set-id bits
            os.utime(path, ns=(MTIME_NS - 10**9, MTIME_NS))
        made[name] = path
    made["dangling"] = folder / "dangling"
    made["dangling"].symlink_to("nowhere")
    return made


@pytest.fixture(scope="module")
def path_with_stat(tmp_path_factory) -> str:
    """A PATH whose `stat` is the stand-in, as on a lab host."""
    folder = tmp_path_factory.mktemp("bin")
    (folder / "stat").symlink_to(STAT)
    return f"{folder}:{os.environ['PATH']}"


# --- the format directives ------------------------------------------------------------------------

FIELDS = {
    "%u": lambda info, path: str(info.st_uid),
    "%g": lambda info, path: str(info.st_gid),
    "%Su": lambda info, path: user_name(info.st_uid),
    "%Sg": lambda info, path: group_name(info.st_gid),
    "%Sp": lambda info, path: stat.filemode(info.st_mode),
    "%p": lambda info, path: f"{info.st_mode:o}",
    "%Lp": lambda info, path: f"{info.st_mode & 0o777:o}",
    "%OLp": lambda info, path: f"{info.st_mode & 0o777:o}",
    "%z": lambda info, path: str(info.st_size),
    "%m": lambda info, path: str(int(info.st_mtime)),
    "%a": lambda info, path: str(int(info.st_atime)),
    "%c": lambda info, path: str(int(info.st_ctime)),
    "%N": lambda info, path: str(path),
    "%SY": lambda info, path: f" -> {os.readlink(path)}" if path.is_symlink() else "",
    "%Y": lambda info, path: os.readlink(path) if path.is_symlink() else "",
    "%HT": lambda info, path: TYPE_NAMES[stat.S_IFMT(info.st_mode)],
    "%d": lambda info, path: str(info.st_dev),
    "%i": lambda info, path: str(info.st_ino),
    "%l": lambda info, path: str(info.st_nlink),
}


@pytest.mark.parametrize("name", FILES)
@pytest.mark.parametrize("directive", FIELDS)
def test_directive_reports_the_files_lstat(files, directive, name):
    path = files[name]
    value = FIELDS[directive](os.lstat(path), path)
    done = run_stat("-f", directive, str(path))
    # stat ends its output with a newline unless it already ends with one: nothing printed, no newline
    assert (done.returncode, done.stdout, done.stderr) == (0, value + "\n" if value else "", "")


MODIFIED = [
    (
        "%SHp|%SMp|%SLp",
        "setuid-tool",
        lambda info: "|".join(stat.filemode(info.st_mode)[at : at + 3] for at in (1, 4, 7)),
    ),
    ("%OMp", "setuid-tool", lambda info: f"{(info.st_mode >> 9) & 0o7:o}"),
    ("%Hp", "shared", lambda info: f"{info.st_mode >> 12:o}"),
    ("%03OLp", "nameless", lambda info: f"{info.st_mode & 0o777:03o}"),
    ("%#Op", "plain", lambda info: f"0{info.st_mode:o}"),
    ("%#Xp|%Xp", "plain", lambda info: f"{info.st_mode:#x}|{info.st_mode:x}"),
    ("%5u|%-8Su|%08z", "setuid-tool", lambda info: f"{info.st_uid:5d}|{user_name(info.st_uid):<8}|{info.st_size:08d}"),
    (
        "%Fm|%.3Fm|%.0Fm",
        "plain",
        lambda info: f"{MTIME_S}.{MTIME_FRACTION:09d}|{MTIME_S}.{MTIME_FRACTION // 10**6:03d}|{MTIME_S}",
    ),
    ("%Hd,%Ld", "plain", lambda info: f"{os.major(info.st_dev)},{os.minor(info.st_dev)}"),
    ("%.3Su", "nameless", lambda info: user_name(info.st_uid)[:3]),
    ("%Sf|%f", "plain", lambda info: "-|0"),  # no file flags, as on a fresh APFS file
]


@pytest.mark.parametrize("directive, name, expected", MODIFIED, ids=[case[0] for case in MODIFIED])
def test_modifiers_shape_the_value_as_bsd_stat_does(files, directive, name, expected):
    done = run_stat("-f", directive, str(files[name]))
    assert (done.returncode, done.stdout) == (0, expected(os.lstat(files[name])) + "\n")


@pytest.mark.parametrize("name, mark", [("plain", ""), ("setuid-tool", "*"), ("shared", "/"), ("link", "@"),
                                        ("pipe", "|")])  # fmt: skip
def test_percent_T_marks_the_type_as_ls_F_does(files, name, mark):
    assert run_stat("-f", "%N%T", str(files[name])).stdout == f"{files[name]}{mark}\n"


@pytest.mark.parametrize("name, device", [("/dev/null", "null"), ("plain", "???"), ("shared", "???"), ("link", "???")])
def test_percent_Sr_names_the_device_file_in_dev(files, name, device):
    assert run_stat("-f", "%Sr", str(files.get(name, name))).stdout == device + "\n"


@pytest.mark.parametrize("name", ["/dev/null", "plain"])
def test_percent_Z_is_major_minor_for_a_device_else_the_size(files, name):
    info = os.lstat(files.get(name, name))
    device = stat.S_ISCHR(info.st_mode)
    expected = f"{os.major(info.st_rdev)},{os.minor(info.st_rdev)}" if device else str(info.st_size)
    assert run_stat("-f", "%Z", str(files.get(name, name))).stdout == expected + "\n"


def test_plain_stat_prints_the_bsd_default_line(files):
    path = files["setuid-tool"]
    info = os.lstat(path)

    def when(ns: int) -> str:
        return time.strftime("%b %e %T %Y", time.localtime(ns // 10**9))

    birth = min(info.st_mtime_ns, info.st_ctime_ns)  # the stand-in's birth time (Linux keeps none)
    expected = (f"{info.st_dev} {info.st_ino} {stat.filemode(info.st_mode)} {info.st_nlink} {user_name(info.st_uid)} "
                f"{group_name(info.st_gid)} {info.st_rdev} {info.st_size} \"{when(info.st_atime_ns)}\" "
                f"\"{when(info.st_mtime_ns)}\" \"{when(info.st_ctime_ns)}\" \"{when(birth)}\" "
                f"{info.st_blksize} {info.st_blocks} 0 {path}\n")  # fmt: skip
    assert run_stat(str(path)).stdout == expected


@pytest.mark.parametrize("args, line", [(["-t", "%Y-%m-%dT%H:%M:%S", "-f", "%Sm"], "{}"), (["-x"], "Modify: {}")])
def test_time_strings_follow_the_time_format(files, args, line):
    timefmt = args[1] if args[0] == "-t" else "%c"
    expected = line.format(time.strftime(timefmt, time.localtime(MTIME_NS // 10**9)))
    assert expected in run_stat(*args, str(files["plain"])).stdout.splitlines()


@pytest.mark.parametrize("name, follow, kind", [("link", True, "Regular File"), ("link", False, "Symbolic Link"),
                                                ("dangling", True, "Symbolic Link")])  # fmt: skip
def test_dash_L_follows_links_and_falls_back_to_a_dangling_one(files, name, follow, kind):
    done = run_stat(*(["-L"] if follow else []), "-f", "%HT", str(files[name]))
    assert (done.returncode, done.stdout) == (0, kind + "\n")


@pytest.mark.parametrize(
    "args, stdout",
    [(["-n", "-f", "%Su"], "root"), (["-f", "%Su%n"], "root\n"), (["-f", ""], ""), (["-f", "%Su %@"], "root 1\n")],
)
def test_output_ends_with_one_newline_unless_n(files, args, stdout):
    assert run_stat(*args, str(files["plain"])).stdout == stdout


def test_each_file_gets_its_own_line_and_number(files):
    done = run_stat("-f", "%@ %Su", str(files["plain"]), str(files["setuid-tool"]))
    assert done.stdout == "1 root\n2 daemon\n"


def test_no_file_means_standard_input(files):
    with open(files["setuid-tool"]) as stdin:
        done = run_stat("-f", "%N %Su", stdin=stdin)
    assert done.stdout == "(stdin) daemon\n"


# --- what BSD stat refuses ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, letter",
    [(["-c", "%U", "/"], "c"), (["-Lc", "%U", "/"], "c"), (["--format=%U", "/"], "-"), (["--printf=%U\\n", "/"], "-"),
     (["--dereference", "/"], "-"), (["-e", "/"], "e")],
)  # fmt: skip
def test_gnu_options_are_illegal(args, letter):
    done = run_stat(*args)
    assert (done.returncode, done.stdout, done.stderr) == (1, "", f"stat: illegal option -- {letter}\n{USAGE}")


def test_dash_f_needs_a_format():
    done = run_stat("-f")
    assert (done.returncode, done.stderr) == (1, f"stat: option requires an argument -- f\n{USAGE}")


@pytest.mark.parametrize("quiet, stderr", [(False, "stat: {}: stat: No such file or directory\n"), (True, "")])
def test_a_missing_file_fails(tmp_path, quiet, stderr):
    missing = tmp_path / "nope"
    done = run_stat(*(["-q"] if quiet else []), "-f", "%Su", str(missing))
    assert (done.returncode, done.stdout, done.stderr) == (1, "", stderr.format(missing))


def test_a_missing_file_does_not_stop_the_others(files, tmp_path):
    done = run_stat("-f", "%Su", str(tmp_path / "nope"), str(files["plain"]))
    assert (done.returncode, done.stdout) == (1, "root\n")


def test_options_end_at_the_first_file(files):
    done = run_stat(str(files["plain"]), "-f", "%Su")
    assert done.returncode == 1
    assert "stat: -f: stat: No such file or directory\n" in done.stderr


@pytest.mark.parametrize("directive", ["%G", "%U", "%Sz", "%Fz", "%Hi", "%MT", "%", "%Sq"])
def test_unknown_or_unfitting_directives_are_a_bad_format(files, directive):
    done = run_stat("-f", directive, str(files["plain"]))
    assert (done.returncode, done.stderr) == (1, f"stat: {directive}: bad format\n")


@pytest.mark.parametrize(
    "args, message", [(["-l", "-x"], "can't use format 'l' with 'x'"), (["-F", "-s"], "can't use format 's' with -F")]
)
def test_formats_exclude_each_other(files, args, message):
    done = run_stat(*args, str(files["plain"]))
    assert (done.returncode, done.stdout, done.stderr) == (1, "", f"stat: {message}\n")


# --- pyinfra and testinfra read it as they read a Mac ---------------------------------------------


@pytest.mark.parametrize("fact, name", [(File, "plain"), (File, "nameless"), (Directory, "shared"), (Link, "link")])
def test_pyinfra_file_facts_parse_the_answer(files, path_with_stat, fact, name):
    path = files[name]
    command = fact().command(str(path)).get_raw_value()  # GNU's `stat -c` first, then BSD_STAT_COMMAND
    done = subprocess.run(["sh", "-c", command], env={**os.environ, "PATH": path_with_stat}, capture_output=True,
                          text=True, timeout=30, check=True)  # fmt: skip
    info = os.lstat(path)
    expected = {
        "user": user_name(info.st_uid),
        "group": group_name(info.st_gid),
        "mode": int(f"{stat.S_IMODE(info.st_mode):o}"),
        "size": info.st_size,
        **{key: utc(int(getattr(info, f"st_{key}"))) for key in ("atime", "mtime", "ctime")},
        **({"link_target": os.readlink(path)} if path.is_symlink() else {}),
    }
    assert fact().process(done.stdout.splitlines()) == expected


@pytest.mark.parametrize(
    "prop, expected",
    [
        ("user", lambda info: user_name(info.st_uid)),
        ("uid", lambda info: info.st_uid),
        ("group", lambda info: group_name(info.st_gid)),
        ("gid", lambda info: info.st_gid),
        ("mode", lambda info: info.st_mode & 0o777),  # %Lp: a Mac's testinfra sees no set-id bits
        ("size", lambda info: info.st_size),
        ("mtime", lambda info: datetime.datetime.fromtimestamp(int(info.st_mtime))),
    ],
)
@pytest.mark.parametrize("name", ["setuid-tool", "shared"])
def test_testinfra_darwin_file_reads_the_answer(files, path_with_stat, monkeypatch, prop, expected, name):
    monkeypatch.setenv("PATH", path_with_stat)
    darwin_file = type("DarwinFile", (DarwinFile,), {"_host": testinfra.get_host("local://")})
    assert getattr(darwin_file(str(files[name])), prop) == expected(os.lstat(files[name]))
