"""Whole runs across the stack (launch.py train in a subprocess): the loop, faults, resume, scaling, jobs."""
