"""kapsec.harden: plan (pure) -> patch (format-preserving) -> apply (atomic, backed up).

- :mod:`kapsec.harden.plan`: the changes a profile makes for the checks that fail, each with its
  check id, reason and safety level (``guide``, ``guide-moderate``, ``cis``, ``--set``, ``--skip``).
- :mod:`kapsec.harden.patch`: line edits located with ruamel.yaml's round-trip loader, verified
  by parsing the result again; every other byte of the manifest stays as it was.
- :mod:`kapsec.harden.kubeadm`: the ``ClusterConfiguration`` fragment (v1beta3 and v1beta4).
- :mod:`kapsec.harden.workloads`: the privileged workloads ``--allow-privileged=false`` stops.
- :mod:`kapsec.harden.apply`: validation with the owning packages' validators, dot-prefixed temp
  file + fsync + ``os.replace`` (the kubelet ignores dot files: ``pkg/kubelet/config/file.go``),
  backups outside the static pod directory, rollback.
- :mod:`kapsec.harden.wait`: ``/readyz`` with the admin kubeconfig's credentials.
"""
