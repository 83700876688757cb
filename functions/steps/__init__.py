"""The chain's steps, one module each; `table.STEPS` wires them. Step logic takes plain values and imports no Azure SDK."""
