"""The integrity-code service (个人诚信码): pure rules over docket's litigation facts, agency queries, appeals."""
