"""kapsec.auditpolicy"""
