package secrets

const childEnv = "SECRETS_TEST_CHILD"
