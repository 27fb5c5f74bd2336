-- A CA key kept in a PKCS#11 token (issue 17): the store holds only its RFC 7512 URI (which names
-- a PIN source, never a PIN); encrypted_private_key is then empty. NULL: the key is the
-- encrypted PKCS#8 in encrypted_private_key, as before.
ALTER TABLE root_ca ADD COLUMN key_uri TEXT;
ALTER TABLE intermediate_ca ADD COLUMN key_uri TEXT;
