"""Media access: probing containers and decoding clip windows (PyAV), with time and memory bounds."""
