"""kapsec.rbac"""
