"""kapsec.checks"""
