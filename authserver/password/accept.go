package password

// Acceptable reports whether encoded is a password hash that Verify can
// check, so that a user may be created with it as it is (the admin API's
// password_hash): today an argon2id PHC string of any parameters (a login
// re-hashes it with the Hasher's). The hash formats that `users import`
// reads are meant to be accepted here as well.
func Acceptable(encoded string) bool {
	_, _, _, err := decode(encoded)
	return err == nil
}
