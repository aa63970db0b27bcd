DROP INDEX issues_by_first_release;
