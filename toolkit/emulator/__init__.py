"""Artifacts proven on the device's instruction set: arm64 under QEMU user mode.

    userland.py  the arm64 Python + aarch64 runtime wheels + qemu-aarch64 in a cache folder
                 (`edgekit emulator setup` runs setup_arm64.sh)
    inside.py    what the emulated Python runs: the runtime calls, nothing else
    runner.py    a runner doing everything else on the host, the runtime calls emulated
    proof.py     the deliverable on each CPU model, against the source and the x86 run

Emulated time is never a latency: QEMU runs 20-500x slower than the device.
"""
