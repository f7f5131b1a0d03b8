"""Where backed-up data comes from and goes back to: file trees now, disks and VMs later.

Sources know nothing of vaults or stores: they enumerate, read and write back.
"""
