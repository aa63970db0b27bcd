DROP INDEX telegram_link_codes_by_user;
DROP TABLE telegram_link_codes;
DROP INDEX telegram_links_by_user;
DROP TABLE telegram_links;
