"""Runtime: what a turn uses.

The compiled values, the machine (the only ``transitions`` import), rules, slots, templates,
the turn itself, the LLM step and its contract, business actions, results and streaming.
"""
