package password

// Acceptable reports whether encoded is a password hash that Verify can
// check, so that a user may be created with it as it is (the admin API's
// password_hash): an argon2id PHC string of any parameters, or one of the
// Django formats that `users import` reads (Identify names them). A login
// re-hashes either with the Hasher's parameters.
func Acceptable(encoded string) bool {
	_, err := Identify(encoded)
	return err == nil
}
