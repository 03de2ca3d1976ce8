"""Typed, frozen values shared by every package."""
