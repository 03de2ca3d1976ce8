"""kapsec.netpol"""
