"""Virtual machines on libvirt/QEMU hosts: domains, guest agent, checkpoints, NBD exports."""
