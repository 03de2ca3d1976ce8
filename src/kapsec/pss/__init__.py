"""kapsec.pss"""
