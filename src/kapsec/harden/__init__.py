"""kapsec.harden"""
