"""kapsec.sources"""
