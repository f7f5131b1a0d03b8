"""Troubleshooting as software: catalog lookups, message matching and preflight checks.

lookup        a code, alias, Azure id or Linux-extension status -> its catalog entry
matcher       a pasted error message (ours or Azure's, en/zh-CN/zh-TW) -> the likely entries
findings      one check's verdict (pass/warn/fail/skipped) and the runner that orders checks
storechecks   the vault's store: reachable, writable, free space, its clock, the leases held
vaultchecks   the passphrase opens the vault; `check` finds no problem
fileschecks   a files item: its paths, the cache folder's free space, the clock
vmchecks      a VM item: libvirt, the domain, its state, the guest agent, disks, checkpoints
"""
