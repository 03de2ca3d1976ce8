"""The lab: a realistic control-plane tree to try kapsec on (``kapsec lab init``).

``build_tree(options)`` returns the tree as data (pure); ``init_lab(root, options)`` writes it.
"""

from __future__ import annotations

from pathlib import Path

from kapsec.lab.tree import (
    Flavor,
    LabFile,
    LabOptions,
    LabSymlink,
    LabTree,
    Plant,
    check_target,
    write_tree,
)

__all__ = ["Flavor", "LabFile", "LabOptions", "LabSymlink", "LabTree", "Plant", "build_tree", "init_lab"]


def build_tree(options: LabOptions) -> LabTree:
    if options.flavor is Flavor.RKE2:
        from kapsec.lab import rke2

        return rke2.build(options)
    from kapsec.lab import kubeadm

    return kubeadm.build(options)


def init_lab(root: Path, options: LabOptions, *, force: bool = False) -> LabTree:
    """Build the tree for ``options`` and write it under ``root``; returns what was written."""
    check_target(root, force=force)  # before the key generation, so a refusal is instant
    tree = build_tree(options)
    write_tree(tree, root, force=force)
    return tree
