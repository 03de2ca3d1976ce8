"""Exact RBAC semantics: authorize, rules-for, who-can, escalation (covers), aggregation, risks.

Each module mirrors upstream Kubernetes code and names it in its docstring:

* :mod:`kapsec.rbac.model` - typed Role/ClusterRole/binding values (``staging/src/k8s.io/api/rbac/v1/types.go``);
* :mod:`kapsec.rbac.match` - rule matching (``pkg/apis/rbac/v1/evaluation_helpers.go``, ``RuleAllows``);
* :mod:`kapsec.rbac.store` - the indexed object set (``RbacStore.from_objects``);
* :mod:`kapsec.rbac.authorize` - the authorizer (``plugin/pkg/auth/authorizer/rbac/rbac.go``);
* :mod:`kapsec.rbac.subjects` - who-can (``subject_locator.go``);
* :mod:`kapsec.rbac.covers` and :mod:`kapsec.rbac.escalation` - escalation checks;
* :mod:`kapsec.rbac.aggregation` - the ClusterRole aggregation controller;
* :mod:`kapsec.rbac.defaults` and :mod:`kapsec.rbac.risks` - bootstrap defaults and the risk catalog;
* :mod:`kapsec.rbac.matrix` - resources x verbs for one subject.
"""
