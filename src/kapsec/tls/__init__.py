"""kapsec.tls"""
