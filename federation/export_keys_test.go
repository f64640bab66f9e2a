package federation

// ForgetKeys empties the keys held in memory, as a restart or the hour they are kept does.
func ForgetKeys(s *Service) { s.actors.ForgetKeys() }
