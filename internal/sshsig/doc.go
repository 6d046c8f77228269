// Package sshsig signs and verifies messages in OpenSSH's SSHSIG format
// (PROTOCOL.sshsig), the format of `ssh-keygen -Y sign` and
// `ssh-keygen -Y verify`, and reads OpenSSH allowed_signers files.
//
// A signature made here verifies with
//
//	ssh-keygen -Y verify -n NAMESPACE -f allowed_signers -I IDENTITY -s FILE.sig < FILE
//
// and one made by `ssh-keygen -Y sign -n NAMESPACE -f KEY FILE` verifies
// here:
//
//	sig, err := sshsig.Sign(signer, "atocore-backup", message)
//	signers, err := sshsig.ParseAllowedSigners(data)
//	principal, err := signers.Verify(sig, "atocore-backup", message)
//
// Signing takes Ed25519 keys only (the key type the project asks for);
// verification accepts every key type x/crypto/ssh verifies except RSA
// with SHA-1, which SSHSIG forbids. The message is hashed with SHA-512,
// as ssh-keygen does.
package sshsig
