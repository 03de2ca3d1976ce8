"""kapsec.service"""
