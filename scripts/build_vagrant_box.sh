#!/usr/bin/env bash
# Build a small Debian (bookworm) Vagrant box for the libvirt provider from Debian packages
# only (debootstrap against the mirror apt already uses), cache it and register it with vagrant.
#
#   build_vagrant_box.sh [BOX_NAME]      (default enoslib/debian12; root only)
#
#   ENOSLIB_BOX_CACHE   cache directory (default ~/.cache/enoslib/boxes)
#
# The box boots its kernel directly (no bootloader, no loop device needed): the image is a bare
# ext4 file system made with `mkfs.ext4 -d`, and the kernel/initrd are copied to
# /var/lib/libvirt/boot where the qemu user can read them; the box's Vagrantfile points there.
# Quick when the box is already built and registered.
set -euo pipefail
BOX="${1:-enoslib/debian12}"
SLUG="${BOX//\//-}"
CACHE="${ENOSLIB_BOX_CACHE:-$HOME/.cache/enoslib/boxes}"
BOXFILE="$CACHE/$SLUG.box"
BOOT=/var/lib/libvirt/boot
KERNEL="$BOOT/$SLUG-vmlinuz"
INITRD="$BOOT/$SLUG-initrd.img"
# bump when the recipe below changes: cached boxes of another recipe are rebuilt
RECIPE=2
VAGRANT_KEY=$(ls /usr/share/rubygems-integration/all/gems/vagrant-*/keys/vagrant.pub 2>/dev/null | head -1)

registered() { vagrant box list --machine-readable 2>/dev/null | grep -q ",box-name,$BOX\$"; }

current() { [ -f "$BOXFILE" ] && [ "$(cat "$CACHE/$SLUG.recipe" 2>/dev/null)" = "$RECIPE" ]; }
if current && [ -f "$KERNEL" ] && [ -f "$INITRD" ] && registered; then
  exit 0
fi

mkdir -p "$CACHE" "$BOOT"
if ! current || [ ! -f "$CACHE/$SLUG-vmlinuz" ]; then
  # the Debian mirror apt uses here (deb822 or one-line sources), never a hard-coded host
  mirror=$( (cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
               /etc/apt/sources.list.d/*.sources 2>/dev/null || true) \
             | grep -E '^(URIs:|deb )' | grep -v security \
             | sed -E 's/^URIs:[[:space:]]*//; s/^deb (\[[^]]*\] )?//' | awk 'NR == 1 {print $1}')
  [ -n "$mirror" ] || { echo "build_vagrant_box: no Debian mirror in the apt sources" >&2; exit 1; }
  [ -n "$VAGRANT_KEY" ] || { echo "build_vagrant_box: vagrant's insecure public key not found" >&2; exit 1; }
  work=$(mktemp -d "$CACHE/.build-XXXXXX")
  trap 'rm -rf "$work"' EXIT
  root="$work/root"
  echo "build_vagrant_box: debootstrap bookworm from $mirror (once)" >&2
  debootstrap --variant=minbase \
    --include=linux-image-cloud-amd64,systemd-sysv,udev,dbus,kmod,openssh-server,sudo,python3,iproute2,iputils-ping,fping,iperf3,procps,ca-certificates \
    bookworm "$root" "$mirror" >"$work/debootstrap.log" 2>&1 \
    || { tail -20 "$work/debootstrap.log" >&2; exit 1; }

  # guest configuration: vagrant user with the insecure key (vagrant replaces it on first up),
  # passwordless sudo, DHCP on eth0 through systemd-networkd (vagrant's debian guest then
  # writes its private networks as networkd files), sshd.
  chroot "$root" useradd -m -s /bin/bash vagrant
  install -d -m 700 -o 1000 -g 1000 "$root/home/vagrant/.ssh"
  install -m 600 -o 1000 -g 1000 "$VAGRANT_KEY" "$root/home/vagrant/.ssh/authorized_keys"
  echo 'vagrant ALL=(ALL) NOPASSWD:ALL' > "$root/etc/sudoers.d/vagrant"
  chmod 440 "$root/etc/sudoers.d/vagrant"
  echo 'enoslib-box' > "$root/etc/hostname"
  printf '127.0.0.1 localhost\n127.0.1.1 enoslib-box\n' > "$root/etc/hosts"
  echo '/dev/vda / ext4 defaults,errors=remount-ro 0 1' > "$root/etc/fstab"
  # every machine of the box must get its own DHCP lease: a client id from the MAC, and a
  # machine id generated at first boot (an empty file), not one shared by all machines
  printf '[Match]\nName=eth0\n[Network]\nDHCP=ipv4\n[DHCPv4]\nClientIdentifier=mac\n' \
    > "$root/etc/systemd/network/10-eth0.network"
  : > "$root/etc/machine-id"
  rm -f "$root/var/lib/dbus/machine-id"
  echo 'UseDNS no' > "$root/etc/ssh/sshd_config.d/vagrant.conf"
  chroot "$root" systemctl enable systemd-networkd ssh >/dev/null 2>&1
  chroot "$root" systemctl mask apt-daily.timer apt-daily-upgrade.timer >/dev/null 2>&1 || true
  chroot "$root" apt-get clean
  rm -rf "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/locale/* \
         "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin
  cp "$root"/boot/vmlinuz-* "$work/vmlinuz"
  cp "$root"/boot/initrd.img-* "$work/initrd.img"

  # bare ext4 image (no partition table), populated without mounting, then qcow2
  mkfs.ext4 -q -L root -d "$root" "$work/root.raw" 2G
  qemu-img convert -O qcow2 "$work/root.raw" "$work/box.img"
  rm -f "$work/root.raw"
  echo '{"provider": "libvirt", "format": "qcow2", "virtual_size": 2}' > "$work/metadata.json"
  cat > "$work/Vagrantfile" <<EOF
Vagrant.configure("2") do |config|
  config.vm.provider :libvirt do |libvirt|
    libvirt.kernel = "$KERNEL"
    libvirt.initrd = "$INITRD"
    libvirt.cmd_line = "root=/dev/vda rw console=ttyS0 net.ifnames=0 biosdevname=0 quiet"
  end
  config.vm.synced_folder ".", "/vagrant", disabled: true
end
EOF
  tar -C "$work" -cf "$work/box.tar" metadata.json Vagrantfile box.img
  mv "$work/vmlinuz" "$CACHE/$SLUG-vmlinuz"
  mv "$work/initrd.img" "$CACHE/$SLUG-initrd.img"
  mv "$work/box.tar" "$BOXFILE"
  echo "$RECIPE" > "$CACHE/$SLUG.recipe"
  # a new box: drop the registration and libvirt's copy of the old one
  vagrant box remove --force --all "$BOX" >/dev/null 2>&1 || true
  if command -v virsh >/dev/null; then
    for vol in $(virsh -q vol-list default 2>/dev/null | awk '{print $1}' \
                 | grep "^${BOX//\//-VAGRANTSLASH-}_vagrant_box_image_" || true); do
      virsh -q vol-delete --pool default "$vol" >/dev/null || true
    done
  fi
fi
install -m 644 "$CACHE/$SLUG-vmlinuz" "$KERNEL"
install -m 644 "$CACHE/$SLUG-initrd.img" "$INITRD"
if ! registered; then
  vagrant box add --force --name "$BOX" "$BOXFILE" >/dev/null
fi
