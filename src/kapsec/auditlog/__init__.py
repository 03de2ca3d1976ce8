"""kapsec.auditlog"""
