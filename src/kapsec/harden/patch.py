"""Format-preserving edits of a kube-apiserver static pod manifest.

ruamel.yaml's round-trip loader tells where every flag, volume mount and volume sits (line and
column); the edits are then made on the text, line by line, so that every line kapsec does not
change stays byte-identical: comments, key order, quoting, indentation and blank lines. The
result is parsed again and compared, value for value, with the intended manifest; any
difference is an error and nothing is returned to write.

Flags are found as kube-apiserver's pflag reads them (``--f=v``, ``--f v``, bool flags never take
the next word; see :mod:`kapsec.model.apiserver`), in ``command`` and ``args`` as the container
runtime joins them (``k8s.io/kubernetes/pkg/kubelet/kuberuntime`` ``makeCommand``). New flags
go where an installer would put them: in sorted position when the list is sorted (kubeadm sorts
its flags), at the end otherwise; into ``args`` when the flags live there (RKE2), else
``command``. Pure: text in, text out.
"""

from __future__ import annotations

import copy
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError

from kapsec.errors import InputError
from kapsec.model import flags as fl
from kapsec.model.apiserver import Arg
from kapsec.sources.apiserver import split_argv


@dataclass(frozen=True)
class MountSpec:
    """A hostPath volume and its mount in the API server container."""

    name: str
    mount_path: str
    host_path: str
    host_type: str = "DirectoryOrCreate"
    read_only: bool = True


@dataclass(frozen=True)
class ManifestEdits:
    set_flags: tuple[tuple[str, str], ...] = ()  # (flag name without dashes, value)
    remove_flags: tuple[str, ...] = ()
    add_mounts: tuple[MountSpec, ...] = ()
    # (existing volume name, new spec): repoint a mount and its volume (e.g. file -> directory)
    retarget: tuple[tuple[str, MountSpec], ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.set_flags or self.remove_flags or self.add_mounts or self.retarget)


# ------------------------------------------------------------------------------ helpers


def _plain(node: Any) -> Any:
    if isinstance(node, Mapping):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node


def _load_rt(text: str, name: str) -> Any:
    y = YAML(typ="rt")
    try:
        docs = [d for d in y.load_all(io.StringIO(text)) if d is not None]
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = int(mark.line) + 1 if mark is not None else None
        raise InputError(
            f"invalid YAML: {getattr(exc, 'problem', None) or exc}", file=name, line=line
        ) from exc
    if len(docs) != 1:
        raise InputError(
            f"expected one Pod document, found {len(docs)}: kapsec harden edits single-document manifests",
            file=name,
        )
    return docs[0]


def _scalar_token(line: str, col: int, value: str) -> int | None:
    """The end column of the single-line scalar ``value`` that starts at ``col``, else None."""
    rest = line[col:].rstrip("\r\n")
    candidates: list[int] = []
    if rest[:1] in ('"', "'"):
        q = rest[0]
        i = 1
        while i < len(rest):
            if q == "'" and rest[i] == "'" and rest[i + 1 : i + 2] == "'":
                i += 2
                continue
            if q == '"' and rest[i] == "\\":
                i += 2
                continue
            if rest[i] == q:
                candidates.append(i + 1)
                break
            i += 1
    else:
        cut = rest.find(" #")
        candidates.append(len(rest[:cut].rstrip()) if cut >= 0 else len(rest.rstrip()))
    for end in candidates:
        try:
            if yaml.safe_load(rest[:end]) == value:
                return col + end
        except yaml.YAMLError:
            continue
    return None


def render_scalar(value: str, like: str = "") -> str:
    """``value`` as a YAML scalar, in the quoting style of ``like`` when it has one."""
    if like.startswith('"'):
        return json.dumps(value)
    if like.startswith("'"):
        return "'" + value.replace("'", "''") + "'"
    try:
        ok = yaml.safe_load(value) == value and "\n" not in value and value.strip() == value
    except yaml.YAMLError:
        ok = False
    return value if ok and value else json.dumps(value)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _last_line(node: Any, line: int) -> int:
    """The last line a block node uses (scalars on one line)."""
    best = line
    if isinstance(node, CommentedMap):
        for k in node:
            kl, _ = node.lc.key(k)
            best = max(best, kl)
            v = node[k]
            if isinstance(v, (CommentedMap, CommentedSeq)) and len(v):
                best = max(best, _last_line(v, kl))
            else:
                vl, _ = node.lc.value(k)
                best = max(best, vl)
    elif isinstance(node, CommentedSeq):
        for i, v in enumerate(node):
            il, _ = node.lc.item(i)
            best = max(best, il)
            if isinstance(v, (CommentedMap, CommentedSeq)) and len(v):
                best = max(best, _last_line(v, il))
    return best


def _end_line(lines: Sequence[str], node: Any, line: int, col: int) -> int:
    """Like :func:`_last_line`, extended over continuation lines indented deeper than ``col``."""
    end = _last_line(node, line)
    while end + 1 < len(lines):
        nxt = lines[end + 1]
        if not nxt.strip() or nxt.lstrip().startswith("#") or _indent(nxt) <= col:
            break
        end += 1
    return end


class _Editor:
    """Line edits collected against the original text, applied bottom-up."""

    def __init__(self, text: str, name: str) -> None:
        self.lines = text.splitlines(keepends=True)
        if self.lines and not self.lines[-1].endswith("\n"):
            self.lines[-1] += "\n"
            self.no_final_newline = True
        else:
            self.no_final_newline = False
        self.name = name
        self.replace: dict[int, str] = {}  # line -> new text (with newline); "" deletes
        self.insert: dict[int, list[str]] = {}  # before line -> new lines

    def set_scalar(self, line: int, col: int, old: str, new: str, what: str) -> None:
        src = self.replace.get(line, self.lines[line])
        end = _scalar_token(src, col, old)
        if end is None:
            raise InputError(
                f"cannot edit {what} in place: its value is not a single-line scalar; edit it by hand",
                file=self.name,
                line=line + 1,
            )
        self.replace[line] = src[:col] + render_scalar(new, src[col:end]) + src[end:]

    def delete(self, line: int) -> None:
        self.replace[line] = ""

    def add(self, before: int, new_lines: Sequence[str]) -> None:
        self.insert.setdefault(before, []).extend(new_lines)

    def result(self) -> str:
        out: list[str] = []
        for i, line in enumerate(self.lines):
            out.extend(self.insert.get(i, []))
            out.append(self.replace.get(i, line))
        out.extend(self.insert.get(len(self.lines), []))
        text = "".join(out)
        if self.no_final_newline and text.endswith("\n"):
            text = text[:-1]
        return text


# ------------------------------------------------------------------------------ the container


@dataclass
class _FlagItem:
    seq: CommentedSeq
    index: int  # index of the flag word in seq
    name: str
    value: str
    two_words: bool  # "--flag value": the value is seq[index + 1]


def _find_container(doc: Any, name: str) -> tuple[CommentedMap, CommentedMap]:
    if not isinstance(doc, CommentedMap) or not isinstance(doc.get("spec"), CommentedMap):
        raise InputError("not a Pod manifest (no spec)", file=name)
    spec = doc["spec"]
    for c in spec.get("containers") or []:
        if not isinstance(c, CommentedMap):
            continue
        words = [str(w) for w in (c.get("command") or [])] + [str(w) for w in (c.get("args") or [])]
        if split_argv([Arg(w) for w in words]) is not None:
            return spec, c
    raise InputError("no kube-apiserver container found in the manifest", file=name)


def _require_block(seq: CommentedSeq, what: str, name: str) -> None:
    if seq.fa.flow_style():
        raise InputError(
            f"{what} is written in flow style ([...]); kapsec harden edits block lists only (one item per line)",
            file=name,
        )


def _flag_items(container: CommentedMap, name: str) -> tuple[list[_FlagItem], CommentedSeq]:
    """The flag words of the container and the list new flags go into."""
    command = container.get("command")
    args = container.get("args")
    items: list[_FlagItem] = []
    lists: list[CommentedSeq] = [s for s in (command, args) if isinstance(s, CommentedSeq)]
    if isinstance(command, CommentedSeq) and command:
        first = str(command[0]).strip()
        if first.rsplit("/", 1)[-1] in ("sh", "bash", "ash", "dash"):
            raise InputError(
                "the API server is started through a shell command string; edit its flags by hand",
                file=name,
            )
    # words before the API server's own flags (a wrapper such as kOps' /go-runner and its flags)
    words = [str(w) for seq in lists for w in seq]
    flag_args = split_argv([Arg(w) for w in words])
    skip_words = len(words) - len(flag_args) if flag_args is not None else 0
    for seq in lists:
        i = 0
        if skip_words >= len(seq):
            skip_words -= len(seq)
            continue
        i, skip_words = skip_words, 0
        while i < len(seq):
            word = str(seq[i])
            if word.startswith("--") and len(word) > 2:
                body = word[2:]
                if "=" in body:
                    n, v = body.split("=", 1)
                    items.append(_FlagItem(seq, i, fl.normalize_name(n), v, False))
                else:
                    n = fl.normalize_name(body)
                    spec = fl.spec(n)
                    is_bool = spec is not None and spec.type is fl.FlagType.BOOL
                    if not is_bool and i + 1 < len(seq) and not str(seq[i + 1]).startswith("-"):
                        items.append(_FlagItem(seq, i, n, str(seq[i + 1]), True))
                        i += 1
                    else:
                        items.append(_FlagItem(seq, i, n, "true", False))
            i += 1
    if isinstance(args, CommentedSeq) and any(it.seq is args for it in items):
        target = args
    elif isinstance(command, CommentedSeq):
        target = command
    elif isinstance(args, CommentedSeq):
        target = args
    else:
        raise InputError("the API server container has no command or args list", file=name)
    return items, target


# ------------------------------------------------------------------------------ edits


def _apply_plain(data: Any, edits: ManifestEdits) -> Any:
    """The intended result on plain data (the reference the text edit is checked against)."""
    out = copy.deepcopy(data)
    spec = out["spec"]
    container = None
    for c in spec.get("containers") or []:
        words = [str(w) for w in (c.get("command") or [])] + [str(w) for w in (c.get("args") or [])]
        if split_argv([Arg(w) for w in words]) is not None:
            container = c
            break
    assert container is not None
    words = [str(w) for k in ("command", "args") for w in (container.get(k) or [])]
    flag_args = split_argv([Arg(w) for w in words])
    skip_words = len(words) - len(flag_args) if flag_args is not None else 0
    for key in ("command", "args"):
        seq = container.get(key)
        if not isinstance(seq, list):
            continue
        new: list[Any] = list(seq[: min(skip_words, len(seq))])
        i = min(skip_words, len(seq))
        skip_words -= i
        while i < len(seq):
            word = str(seq[i])
            name = None
            two = False
            if word.startswith("--") and len(word) > 2:
                body = word[2:]
                name = fl.normalize_name(body.split("=", 1)[0])
                if "=" not in body:
                    s = fl.spec(name)
                    if not (s is not None and s.type is fl.FlagType.BOOL) and i + 1 < len(seq):
                        two = not str(seq[i + 1]).startswith("-")
            if name is not None and (name in edits.remove_flags or name in dict(edits.set_flags)):
                i += 2 if two else 1
                continue
            new.append(seq[i])
            i += 1
        container[key] = new
    return out


def patch_manifest(text: str, name: str, edits: ManifestEdits) -> str:
    """Apply ``edits`` to the manifest ``text``; lines not edited stay byte-identical."""
    if edits.empty:
        return text
    doc = _load_rt(text, name)
    spec, container = _find_container(doc, name)
    ed = _Editor(text, name)
    items, target = _flag_items(container, name)
    set_map = dict(edits.set_flags)

    # intended result: flags removed everywhere, then set ones re-added where the edit puts them
    expected = _apply_plain(_plain(doc), edits)
    exp_container = next(
        c
        for c in expected["spec"]["containers"]
        if split_argv([Arg(str(w)) for w in list(c.get("command") or []) + list(c.get("args") or [])])
        is not None
    )

    # 1. flags that already occur: replace the last occurrence, delete the others
    handled: set[str] = set()
    by_name: dict[str, list[_FlagItem]] = {}
    for it in items:
        by_name.setdefault(it.name, []).append(it)
    placements: dict[str, tuple[str, int]] = {}  # flag -> (list key, index in the expected list)
    for flag, occs in by_name.items():
        if flag in edits.remove_flags or flag in set_map:
            keep = occs[-1] if flag in set_map else None
            for it in occs:
                _require_block(it.seq, "the list holding --" + flag, name)
                line, col = it.seq.lc.item(it.index)
                if it is keep:
                    value = set_map[flag]
                    old = str(it.seq[it.index])
                    if it.two_words:
                        vline, _ = it.seq.lc.item(it.index + 1)
                        ed.set_scalar(line, col, old, f"--{flag}={value}", f"--{flag}")
                        ed.delete(vline)
                    else:
                        ed.set_scalar(line, col, old, f"--{flag}={value}", f"--{flag}")
                    handled.add(flag)
                    placements[flag] = ("args" if it.seq is container.get("args") else "command", it.index)
                else:
                    ed.delete(line)
                    if it.two_words:
                        ed.delete(it.seq.lc.item(it.index + 1)[0])
    # 2. new flags: in sorted position when the flags are sorted, else at the end
    new_flags = [(f, v) for f, v in edits.set_flags if f not in handled]
    target_key = "args" if target is container.get("args") else "command"
    flag_idx = [it for it in items if it.seq is target]
    names = [it.name for it in flag_idx]
    is_sorted = bool(names) and names == sorted(names)
    if is_sorted:
        new_flags.sort()
    if new_flags:
        if not len(target):
            raise InputError(f"the container's {target_key} list is empty", file=name)
        _require_block(target, f"the container's {target_key}", name)
        ref_line, ref_col = target.lc.item(len(target) - 1)
        prefix = ed.lines[ref_line][:ref_col]
        if prefix.strip() != "-":
            raise InputError(
                f"cannot add flags: the {target_key} list items are not one per line",
                file=name,
                line=ref_line + 1,
            )
        like = ed.lines[ref_line][ref_col:]
        last = str(target[len(target) - 1])
        if _scalar_token(ed.lines[ref_line], ref_col, last) is None:
            raise InputError(
                f"cannot add flags after a multi-line item of {target_key}; edit by hand",
                file=name,
                line=ref_line + 1,
            )
        for flag, value in new_flags:
            word = f"--{flag}={value}"
            before = None
            if is_sorted:
                nxt = next((it for it in flag_idx if it.name > flag), None)
                if nxt is not None:
                    before = nxt.seq.lc.item(nxt.index)[0]
            line_text = prefix + render_scalar(word, like) + "\n"
            if before is None:
                ed.add(ref_line + 1, [line_text])
            else:
                ed.add(before, [line_text])
    # expected flag lists: rebuild from the edited text is what we check; compute the intended
    # words by simulating the same placement on the plain data
    for key in ("command", "args"):
        seq = container.get(key)
        if not isinstance(seq, CommentedSeq):
            continue
        words: list[Any] = []
        i = 0
        inserted: set[str] = set()
        while i < len(seq):
            word = str(seq[i])
            cur = next((x for x in items if x.seq is seq and x.index == i), None)
            if seq is target and is_sorted and cur is not None:
                for flag, value in new_flags:
                    if flag not in inserted and flag < cur.name:
                        words.append(f"--{flag}={value}")
                        inserted.add(flag)
            if cur is not None and (cur.name in edits.remove_flags or cur.name in set_map):
                keep = by_name[cur.name][-1] if cur.name in set_map else None
                if cur is keep:
                    words.append(f"--{cur.name}={set_map[cur.name]}")
                i += 2 if cur.two_words else 1
                continue
            words.append(seq[i])
            i += 1
        if seq is target:
            for flag, value in new_flags:
                if flag not in inserted:
                    words.append(f"--{flag}={value}")
        exp_container[key] = words

    # 3. retargeted mounts (e.g. the audit log file mount becomes its directory)
    mounts = container.get("volumeMounts")
    volumes = spec.get("volumes")
    for vol_name, new in edits.retarget:
        m_idx = next(
            (
                i
                for i, m in enumerate(mounts or [])
                if isinstance(m, CommentedMap) and m.get("name") == vol_name
            ),
            None,
        )
        v_idx = next(
            (
                i
                for i, v in enumerate(volumes or [])
                if isinstance(v, CommentedMap) and v.get("name") == vol_name
            ),
            None,
        )
        if m_idx is None or v_idx is None or not isinstance(mounts, CommentedSeq):
            raise InputError(f"volume {vol_name!r} is not both a volume and a mount", file=name)
        m = mounts[m_idx]
        vol = volumes[v_idx]
        hp = vol.get("hostPath")
        if not isinstance(hp, CommentedMap):
            raise InputError(f"volume {vol_name!r} is not a hostPath volume", file=name)
        ml, mc = m.lc.value("mountPath")
        ed.set_scalar(ml, mc, str(m["mountPath"]), new.mount_path, f"volumeMounts[{vol_name}].mountPath")
        pl, pc = hp.lc.value("path")
        ed.set_scalar(pl, pc, str(hp["path"]), new.host_path, f"volumes[{vol_name}].hostPath.path")
        if "type" in hp:
            tl, tc = hp.lc.value("type")
            ed.set_scalar(tl, tc, str(hp["type"]), new.host_type, f"volumes[{vol_name}].hostPath.type")
        else:
            kl, kc = hp.lc.key("path")
            ed.add(kl + 1, [" " * kc + f"type: {new.host_type}\n"])
        ro = bool(m.get("readOnly"))
        if ro != new.read_only:
            if "readOnly" in m:
                rl, rc = m.lc.value("readOnly")
                ed.set_scalar(rl, rc, m["readOnly"], new.read_only, "readOnly")  # type: ignore[arg-type]
            elif new.read_only:
                kl, kc = m.lc.key("mountPath")
                ed.add(_end_line(ed.lines, m, kl, kc) + 1, [" " * kc + "readOnly: true\n"])
        em = exp_container["volumeMounts"][m_idx]
        em["mountPath"] = new.mount_path
        if new.read_only:
            em["readOnly"] = True
        elif "readOnly" in em:
            em["readOnly"] = False
        ev = expected["spec"]["volumes"][v_idx]
        ev["hostPath"]["path"] = new.host_path
        ev["hostPath"]["type"] = new.host_type

    # 4. new volumes and mounts
    if edits.add_mounts:
        mount_items = [_mount_dict(s) for s in edits.add_mounts]
        volume_items = [_volume_dict(s) for s in edits.add_mounts]
        _append_items(ed, container, "volumeMounts", mount_items, ("mountPath", "name", "readOnly"), name)
        _append_items(ed, spec, "volumes", volume_items, ("hostPath", "name"), name)
        exp_container.setdefault("volumeMounts", [])
        exp_container["volumeMounts"] = list(exp_container["volumeMounts"] or []) + mount_items
        expected["spec"]["volumes"] = list(expected["spec"].get("volumes") or []) + volume_items

    new_text = ed.result()
    try:
        got = _plain(_load_rt(new_text, name))
    except InputError as exc:
        raise InputError(f"internal error: the edited manifest does not parse: {exc}", file=name) from exc
    if got != expected:
        raise InputError(
            "internal error: the edited manifest differs from the intended one; nothing was changed "
            "(please report this manifest)",
            file=name,
        )
    return new_text


def _mount_dict(s: MountSpec) -> dict[str, Any]:
    d: dict[str, Any] = {"mountPath": s.mount_path, "name": s.name}
    if s.read_only:
        d["readOnly"] = True
    return d


def _volume_dict(s: MountSpec) -> dict[str, Any]:
    return {"hostPath": {"path": s.host_path, "type": s.host_type}, "name": s.name}


def _render_item(
    item: Mapping[str, Any], order: Sequence[str], dash: str, key_col: int, sub: int
) -> list[str]:
    keys = sorted(item, key=lambda k: (order.index(k) if k in order else len(order), k))
    out: list[str] = []
    for n, k in enumerate(keys):
        lead = dash if n == 0 else " " * key_col
        v = item[k]
        if isinstance(v, Mapping):
            out.append(f"{lead}{k}:\n")
            for k2, v2 in v.items():
                out.append(" " * (key_col + sub) + f"{k2}: {_value(v2)}\n")
        else:
            out.append(f"{lead}{k}: {_value(v)}\n")
    return out


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return render_scalar(str(v))


def _append_items(  # noqa: PLR0917
    ed: _Editor,
    parent: CommentedMap,
    key: str,
    new_items: Sequence[Mapping[str, Any]],
    default_order: Sequence[str],
    name: str,
) -> None:
    seq = parent.get(key)
    if isinstance(seq, CommentedSeq) and len(seq):
        if seq.fa.flow_style():
            raise InputError(
                f"{key} is written in flow style; kapsec harden edits block lists only", file=name
            )
        last = seq[len(seq) - 1]
        line, col = seq.lc.item(len(seq) - 1)
        dash = ed.lines[line][:col]
        if dash.strip() != "-" or not isinstance(last, CommentedMap):
            raise InputError(f"cannot add to {key}: its items are not one block mapping each", file=name)
        order = [str(k) for k in last] or list(default_order)
        sub = 2  # indentation of nested mappings, from the first block-style one in the list
        for item in seq:
            if not isinstance(item, CommentedMap) or item.fa.flow_style():
                continue
            nested = [k for k in item if isinstance(item[k], CommentedMap) and len(item[k])]
            nested = [k for k in nested if not item[k].fa.flow_style()]
            if nested:
                k = nested[0]
                sub = item[k].lc.key(next(iter(item[k])))[1] - item.lc.key(k)[1]
                break
        end = _end_line(ed.lines, last, line, col)
        lines: list[str] = []
        for item in new_items:
            lines += _render_item(item, order, dash, col, sub)
        ed.add(end + 1, lines)
        return
    # the key is missing (or an empty list): add it after the parent's last line
    first_key = next(iter(parent))
    kl, kc = parent.lc.key(first_key)
    end = _end_line(ed.lines, parent, kl, kc - 1)
    head = " " * kc + f"{key}:\n"
    if isinstance(seq, CommentedSeq) or key in parent:
        kline, _ = parent.lc.key(key)
        ed.delete(kline)
    lines = [head]
    for item in new_items:
        lines += _render_item(item, list(default_order), " " * kc + "- ", kc + 2, 2)
    ed.add(end + 1, lines)
