"""kapsec.encryption"""
