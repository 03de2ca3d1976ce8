"""kapsec.lab"""
