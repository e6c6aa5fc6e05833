"""The test suite: one folder per package it tests, whole runs in e2e/, shared helpers in support/."""
