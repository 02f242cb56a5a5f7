"""The RL algorithms: pure maths in ``functional``, one module per algorithm."""
