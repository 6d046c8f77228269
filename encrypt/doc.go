// Package encrypt age-encrypts snapshot files on their way to an off-site
// target, so that the target never sees plaintext, and decrypts them on the
// way back.
//
// Every snapshot file is encrypted on its own, as one standard age file named
// with [FileSuffix] (db/atocore.db becomes db/atocore.db.age). Nothing here is
// specific to this project's format: each remote file decrypts with `age -d`,
// so an operator can recover with the age tool alone.
//
// Three ways to encrypt, all behind the small [Encryptor] interface:
//
//   - [ParseRecipients] / [RecipientsFromFile]: age X25519 recipients
//     ("age1...", from age-keygen) and SSH public keys (ssh-ed25519,
//     ssh-rsa). The pushing machine needs no secret. Recover with
//     `age -d -i key.txt FILE.age` (or `-i ~/.ssh/id_ed25519`).
//   - [Passphrase]: one scrypt derivation per push, not per file. A random
//     session identity encrypts the files, and is itself stored beside the
//     snapshot as [KeyFileName], encrypted with the passphrase. Recover with
//     `age -d -o key.txt key.age` (asks for the passphrase), then
//     `age -d -i key.txt FILE.age`.
//   - Post-quantum recipients ("age1pq1...") are refused: the age 1.1 that
//     Debian ships cannot decrypt them.
//
// Decryption goes through [Decryptor]: [IdentitiesFromFile] reads the same
// identity files as `age -i`, [PassphraseDecryptor] opens a key file.
// Armored input (age -a) is detected. Errors callers branch on:
// [ErrWrongIdentity], [ErrWrongPassphrase], [ErrCorrupt].
//
// Encryption and decryption stream in 64 KiB chunks: memory stays constant
// for files of any size, and a damaged or truncated file fails at read time,
// never as silently short data.
//
// A push session in outline:
//
//	enc, err := encrypt.RecipientsFromFile("/etc/atocore/backup-recipients.txt")
//	...
//	w, err := enc.Encrypt(remoteFile) // remoteFile named path + enc.Suffix()
//	_, err = io.Copy(w, localFile)
//	err = w.Close() // flushes the last chunk: never skip it
package encrypt
