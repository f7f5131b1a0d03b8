"""What is inside a raw disk image file, read as an unprivileged file reader.

No loop device, no kernel mount: partition tables and file-system signatures are parsed from
the image's bytes, and ext2/3/4 is read through e2fsprogs' debugfs.
"""
